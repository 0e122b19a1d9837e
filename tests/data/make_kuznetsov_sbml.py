"""Write ``kuznetsov1994.xml``: Kuznetsov et al. (1994), written by hand from the paper.

Kuznetsov, Makalkin, Taylor & Perelson (1994), Bull. Math. Biol. 56:295, eqs. (1)–(2) with the
BCL1 parameter values (as BioModels BIOMD0000000762): effectors E and tumor cells T (cells),
time in days. Run ``python tests/data/make_kuznetsov_sbml.py`` to regenerate (needs
python-libsbml).
"""

from pathlib import Path

import libsbml

PARAMS = {  # name: (value, meaning)
    "s": (1.3e4, "normal effector influx, cells/day"),
    "p": (0.1245, "maximal tumor-induced effector recruitment, 1/day"),
    "g": (2.019e7, "tumor size of half-maximal recruitment, cells"),
    "m": (3.422e-10, "effector inactivation per tumor encounter, 1/(cell day)"),
    "d": (0.0412, "effector death rate, 1/day"),
    "a": (0.18, "maximal tumor growth rate, 1/day"),
    "b": (2.0e-9, "inverse carrying capacity, 1/cell"),
    "n": (1.101e-7, "tumor kill per effector encounter, 1/(cell day)"),
}
REACTIONS = {  # id: (reactants, products, rate law)
    "effector_influx": ([], ["E"], "s"),
    "effector_recruitment": ([], ["E"], "p * E * T / (g + T)"),
    "effector_inactivation": (["E"], [], "m * E * T"),
    "effector_death": (["E"], [], "d * E"),
    "tumor_growth": ([], ["T"], "a * T * (1 - b * T)"),
    "tumor_kill": (["T"], [], "n * E * T"),
}


def write_sbml(
    path: Path,
    model_id: str,
    name: str,
    species: dict[str, float],
    params: dict[str, float | tuple[float, str]],
    reactions: dict[str, tuple[list[str], list[str], str]],
) -> None:
    """Write an SBML L3V1 file: one compartment, species amounts, constant parameters and
    irreversible reactions ``{id: (reactants, products, rate law)}`` with unit stoichiometry.
    A parameter given as ``(value, meaning)`` gets the meaning as its SBML name."""
    doc = libsbml.SBMLDocument(3, 1)
    model = doc.createModel()
    model.setId(model_id)
    model.setName(name)
    comp = model.createCompartment()
    comp.setId("body")
    comp.setSize(1.0)
    comp.setConstant(True)
    for sid, x0 in species.items():
        sp = model.createSpecies()
        sp.setId(sid)
        sp.setCompartment("body")
        sp.setInitialAmount(x0)
        sp.setHasOnlySubstanceUnits(True)
        sp.setBoundaryCondition(False)
        sp.setConstant(False)
    for pid, spec in params.items():
        value, meaning = spec if isinstance(spec, tuple) else (spec, "")
        par = model.createParameter()
        par.setId(pid)
        if meaning:
            par.setName(meaning)
        par.setValue(float(value))
        par.setConstant(True)
    for rid, (reactants, products, law) in reactions.items():
        rxn = model.createReaction()
        rxn.setId(rid)
        rxn.setReversible(False)
        rxn.setFast(False)
        for sid, make in [(x, rxn.createReactant) for x in reactants] + [
            (x, rxn.createProduct) for x in products
        ]:
            ref = make()
            ref.setSpecies(sid)
            ref.setStoichiometry(1.0)
            ref.setConstant(True)
        rxn.createKineticLaw().setMath(libsbml.parseL3Formula(law))
    libsbml.writeSBMLToFile(doc, str(path))


def main() -> None:
    write_sbml(
        Path(__file__).with_name("kuznetsov1994.xml"),
        "Kuznetsov1994",
        "Kuznetsov1994 - effector-tumor dynamics (BCL1 lymphoma)",
        {"E": 3.2e5, "T": 1e6},
        dict(PARAMS),
        REACTIONS,
    )


if __name__ == "__main__":
    main()
