"""Intrinsic dimension of data manifolds: exact kNN, the tile estimator, TwoNN and MLE."""
