"""Write ``nikolopoulou2018.xml``: Nikolopoulou et al. (2018), Lett. Biomath., as SBML reactions.

Cancer cells C, T cells T and anti-PD-1 A (g/cm³), time in days; the PD-1/PD-L1 complex
``Q = σ·(ρ_P − γA)·T·ρ_L·(T + ε_C·C)`` inhibits T-cell activation by ``1/(1 + Q/K_TQ)``. The
equations are those of ``tumorimmune.model.Nikolopoulou2018`` (docs/models.md), written out here
as reactions so that the SBML import path (libSBML + sbmltoodejax) is tested on a second
tumor–immune model; parameter values are the model's published defaults. Run
``python tests/data/make_nikolopoulou_sbml.py`` to regenerate (needs python-libsbml).
"""

from pathlib import Path

from make_kuznetsov_sbml import write_sbml

from tumorimmune.model import Nikolopoulou2018

Q = "sigma * (rho_P - gamma * A) * T * rho_L * (T + epsilon_C * C)"
REACTIONS = {  # id: (reactants, products, rate law)
    "cancer_growth": ([], ["C"], "lambda_C * C * (1 - C / C_K)"),
    "cancer_kill": (["C"], [], "eta * T * C"),
    "tcell_activation": (
        [],
        ["T"],
        f"(lambda_TI_12 * T_N * I_12 / (K_I_12 + I_12) + lambda_TI_2 * T * I_2 / (K_I_2 + I_2))"
        f" / (1 + ({Q}) / K_TQ)",
    ),
    "tcell_death": (["T"], [], "d_T * T"),
    "antibody_input": ([], ["A"], "gamma_A"),
    "antibody_binding": (["A"], [], "mu_PA * (rho_P - gamma * A) * T * A"),
    "antibody_decay": (["A"], [], "d_A * A"),
}


def main() -> None:
    write_sbml(
        Path(__file__).with_name("nikolopoulou2018.xml"),
        "Nikolopoulou2018",
        "Nikolopoulou2018 - tumor, T cells and anti-PD-1 with the PD-1/PD-L1 complex",
        {"C": 0.3968, "T": 0.006, "A": 0.0},
        {k: float(v) for k, v in Nikolopoulou2018().parameters().items()},  # type: ignore[arg-type]
        REACTIONS,
    )


if __name__ == "__main__":
    main()
