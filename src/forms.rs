//! Built-in named forms: formula strings with default settings.

use crate::fit::grid;

#[derive(Debug, Clone)]
pub struct Form {
    pub name: &'static str,
    pub formula: &'static str,
    pub variables: &'static [&'static str],
    /// parameters fitted in log space (must be positive)
    pub positive: &'static [&'static str],
    pub description: &'static str,
}

pub const FORMS: &[Form] = &[
    Form {
        name: "power_law",
        formula: "A * x^-alpha",
        variables: &["x"],
        positive: &["A"],
        description: "pure power law L = A x^-alpha",
    },
    Form {
        name: "power_law_plus_constant",
        formula: "E + A * x^-alpha",
        variables: &["x"],
        positive: &["E", "A"],
        description: "power law with an irreducible term L = E + A x^-alpha",
    },
    Form {
        name: "chinchilla",
        formula: "E + A * N^-alpha + B * D^-beta",
        variables: &["N", "D"],
        positive: &["E", "A", "B"],
        description: "Hoffmann et al. (2022) L = E + A/N^alpha + B/D^beta; default start grid from Besiroglu et al. (2024)",
    },
    Form {
        name: "kaplan_nd",
        formula: "((Nc / N)^(alpha_N / alpha_D) + Dc / D)^alpha_D",
        variables: &["N", "D"],
        positive: &["Nc", "alpha_N", "alpha_D", "Dc"],
        description: "Kaplan et al. (2020) L(N, D) = ((Nc/N)^(alpha_N/alpha_D) + Dc/D)^alpha_D",
    },
    Form {
        name: "bnsl",
        formula: "a + b * x^-c0 * (1 + (x / d1)^(1 / f1))^(-c1 * f1)",
        variables: &["x"],
        positive: &["b", "d1", "f1"],
        description: "broken neural scaling law with one break (Caballero et al. 2023)",
    },
    Form {
        name: "data_constrained",
        // U_D = min(D, U) written with abs, R_D = D / U_D - 1 repeated epochs
        formula: "E + A * N^-alpha + B * ((D + U - abs(D - U)) / 2 * (1 + Rd * (1 - exp(-(2 * D / (D + U - abs(D - U)) - 1) / Rd))))^-beta",
        variables: &["N", "D", "U"],
        positive: &["E", "A", "B", "Rd"],
        description: "Muennighoff et al. (2023) data-constrained law: D tokens drawn from U unique ones count as D' = U_D (1 + Rd (1 - exp(-R_D / Rd))) with U_D = min(D, U), R_D = D / U_D - 1 repeated epochs",
    },
    Form {
        name: "sigmoid_accuracy",
        formula: "lo + (hi - lo) * logistic(k * (ln(C) - m))",
        variables: &["C"],
        positive: &["k"],
        description: "downstream accuracy against log compute: lo + (hi - lo) logistic(k (ln C - m)); fit with target='linear'",
    },
    Form {
        name: "accuracy_from_loss",
        formula: "lo + (hi - lo) * logistic(k * (m - L))",
        variables: &["L"],
        positive: &["k"],
        description: "downstream accuracy against the loss (the second step of a two-step prediction): lo + (hi - lo) logistic(k (m - L)); fit with target='linear'",
    },
];

pub fn get(name: &str) -> Option<&'static Form> {
    FORMS.iter().find(|f| f.name == name)
}

/// The default start grid of a form in natural coordinates and the formula's parameter order,
/// or None when the form uses automatic (variable-projection) starts (also when no grid value
/// is representable). `y_max` is the largest |y|: the grid is made for losses of order 1 (up to
/// 2^20), and for data far outside that range its linear coefficients (E, A, B, which scale
/// with y) are multiplied by the exact power of two 2^(e-2) for y_max = m 2^e (m in [0.5, 1)),
/// which brings y_max into [2, 4), so the fit does not depend on y's units. Values past
/// float64 (y near its limits) are left out.
pub fn default_grid(name: &str, param_names: &[String], y_max: f64) -> Option<Vec<Vec<f64>>> {
    let shift = if !(y_max > 0.0) || (9.5367431640625e-7..=1048576.0).contains(&y_max) {
        0 // 2^-20 ..= 2^20: the published grid as it is
    } else {
        libm::frexp(y_max).1 - 2
    };
    // scalbn: the scaled value stays finite where 2^shift alone would overflow
    let scaled = |v: f64| libm::scalbn(v, shift);
    match name {
        "chinchilla" => {
            // Besiroglu et al. (2024): alpha, beta in {0, 0.5, ..., 2}; log E in {-1, -0.5, ..., 1};
            // log A, log B in {0, 5, ..., 25}: 4500 starts.
            let exps: Vec<f64> = (0..5).map(|i| 0.5 * i as f64).collect();
            // (values past float64 for y near its limit are left out)
            let e: Vec<f64> = (0..5)
                .map(|i| scaled((-1.0 + 0.5 * i as f64).exp()))
                .filter(|v| v.is_finite())
                .collect();
            let ab: Vec<f64> = (0..6)
                .map(|i| scaled((5.0 * i as f64).exp()))
                .filter(|v| v.is_finite())
                .collect();
            if e.is_empty() || ab.is_empty() {
                return None; // automatic starts instead
            }
            let vals: Vec<Vec<f64>> = param_names
                .iter()
                .map(|p| match p.as_str() {
                    "E" => e.clone(),
                    "A" | "B" => ab.clone(),
                    _ => exps.clone(),
                })
                .collect();
            Some(grid(&vals))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::Formula;

    #[test]
    fn forms_compile_and_chinchilla_grid_has_4500_starts() {
        for f in FORMS {
            let vars: Vec<String> = f.variables.iter().map(|s| s.to_string()).collect();
            let fm = Formula::new(f.formula, &vars).unwrap();
            for p in f.positive {
                assert!(fm.param_names().iter().any(|n| n == p), "{} {}", f.name, p);
            }
        }
        let fm = Formula::new(
            get("chinchilla").unwrap().formula,
            &["N".into(), "D".into()],
        )
        .unwrap();
        let g = default_grid("chinchilla", fm.param_names(), 2.5).unwrap();
        assert_eq!(g.len(), 4500);
        // losses in other units: E, A, B scaled by a power of two (exactly), finite values only;
        // at the largest float64 part of the grid remains (before: an empty grid)
        let tiny = default_grid("chinchilla", fm.param_names(), 2.5e-300).unwrap();
        assert_eq!(tiny.len(), 4500);
        let e = libm::frexp(2.5e-300).1 - 2;
        assert_eq!(tiny[0][0], libm::scalbn(g[0][0], e));
        let huge = default_grid("chinchilla", fm.param_names(), f64::MAX).unwrap();
        assert!(!huge.is_empty() && huge.len() < 4500);
        assert!(huge.iter().flatten().all(|v| v.is_finite()));
    }
}
