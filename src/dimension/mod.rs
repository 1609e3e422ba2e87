//! Exact k-nearest neighbours and intrinsic-dimension estimators (tile, TwoNN, MLE).
