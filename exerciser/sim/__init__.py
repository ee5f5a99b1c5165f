"""A local simulator of the Clear Street Trading API for expiration day.

It speaks the wire format with its own code (plain dicts and the ``json`` module) and
imports nothing from ``exerciser`` outside this package, so the client can never agree
only with itself. The scenario format is described in ``exerciser/sim/README.md``.

    scenario = load_scenario("book.yaml")
    with running_simulator(scenario) as sim:
        httpx.get(f"{sim.base_url}/v1/accounts", headers={"Authorization": f"Bearer {sim.token}"})
"""

from exerciser.sim.book import Book
from exerciser.sim.faults import Faults
from exerciser.sim.loader import load_scenario, parse_scenario, sample_scenario_path
from exerciser.sim.scenario import Scenario, ScenarioError
from exerciser.sim.simulator import Simulator, running_simulator, serve

__all__ = [
    "Book",
    "Faults",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "load_scenario",
    "parse_scenario",
    "running_simulator",
    "sample_scenario_path",
    "serve",
]
