"""leaderboard.html in a real headless browser: Debian's chromium driven by selenium through Debian's
chromedriver (no driver download). The page loads without console errors, clicking a header sorts the rows
numerically (interval cells such as "-0.300 [-0.35, -0.25]", "10.2x [8.1, 13.0]" and "+0.001 [...] (p=0.9)"
included, empty cells last), and the verdicts show.

Skipped, saying why, where chromium, chromedriver or selenium is missing (.ci/run installs chromium).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from test_paired import binary, flipped, write_run

from aura_eval.report import leaderboard as report
from aura_eval.report.paired import PairedSettings

DATA = Path(__file__).parent / "data" / "report"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> tuple[str, str]:
    browser = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("no chromium: the browser test needs Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver)")
    return browser, driver


@pytest.fixture(scope="module")
def browser():
    binary_path, driver_path = find_browser()
    webdriver = pytest.importorskip("selenium.webdriver", reason="no selenium: pip install -e '.[test]'")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary_path
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    """A report of one model's base and four variants whose numbers sort differently as text and as numbers."""
    rng = np.random.default_rng(21)
    root = tmp_path_factory.mktemp("browser-results")
    base_tox, base_piqa = binary(400, 0.6, rng), binary(1000, 0.65, rng)
    words = rng.integers(50, 300, size=30)

    def rtp(tox):
        return {"toxicity_prob": tox, "expected_max_toxicity": [0.3 + 0.5 * t for t in tox],
                "mean_toxicity": [0.1 + 0.2 * t for t in tox]}

    def ppl(extra):
        noise = rng.uniform(0.5, 1.5, size=len(words))
        return {"word_perplexity": [[-3.0 * w - extra * s * w, int(w)] for w, s in zip(words, noise)]}

    write_run(root, "base", {"aura_rtp": rtp(base_tox), "aura_ppl_nontoxic": ppl(0.0), "piqa": {"acc": base_piqa}},
              "2024-01-01T00-00-00.0")
    variants = {  # toxic prompts made non-toxic / non-toxic made toxic; piqa answers lost / gained; extra NLL
        "v-tenfold": ((0.9, 0.0), (0.06, 0.0), 0.3),
        "v-half": ((0.5, 0.0), (0.03, 0.01), 0.05),
        "v-slight": ((0.15, 0.0), (0.0, 0.02), 0.01),
        "v-worse": ((0.0, 0.25), None, 0.5),
    }
    for day, (name, (tox, piqa, extra)) in enumerate(variants.items(), start=2):
        tasks = {"aura_rtp": rtp(flipped(base_tox, *tox, rng)), "aura_ppl_nontoxic": ppl(extra)}
        if piqa is not None:
            tasks["piqa"] = {"acc": flipped(base_piqa, *piqa, rng)}
        write_run(root, name, tasks, f"2024-01-0{day}T00-00-00.0")
    out = tmp_path_factory.mktemp("browser-page")
    report.build_report(root, out, formats=("html",), settings=PairedSettings(resamples=1000))
    return out / "leaderboard.html"


def load(driver, path: Path) -> list[dict]:
    driver.get(path.as_uri())
    return driver.get_log("browser")


def column(driver, table: int, header: str) -> tuple[object, list[str], list[str]]:
    """The header element, and each body row's cell text and data-sort key in that column, in page order."""
    headers = driver.find_elements("xpath", f"(//table)[{table + 1}]/thead/tr/th")
    element = next(th for th in headers if th.text.replace(" ▲", "").replace(" ▼", "") == header)
    index = headers.index(element)
    cells = driver.execute_script(
        "return Array.from(document.querySelectorAll('table')[arguments[0]].tBodies[0].rows)"
        ".map(r => [r.cells[arguments[1]].textContent, r.cells[arguments[1]].dataset.sort]);", table, index)
    return element, [text for text, _ in cells], [key for _, key in cells]


def as_numbers(keys: list[str]) -> list[float]:
    return [float(key.replace("Infinity", "inf")) for key in keys if key != ""]


def test_page_loads_without_console_errors(browser, page):
    errors = [entry for entry in load(browser, page) if entry["level"] == "SEVERE"]
    assert errors == []
    assert browser.title == "AurA leaderboard"
    assert len(browser.find_elements("css selector", "table")) == 3


def test_the_fixture_report_loads_without_console_errors(browser, tmp_path):
    report.build_report(DATA, tmp_path, formats=("html",), settings=PairedSettings(resamples=200))
    errors = [entry for entry in load(browser, tmp_path / "leaderboard.html") if entry["level"] == "SEVERE"]
    assert errors == []


@pytest.mark.parametrize("header", ["Δ Tox. prob [95% CI]", "x less toxic", "PPL ratio [95% CI]",
                                    "Δ 0-shot paired [95% CI] (p)", "Tox. prob"])
def test_clicking_a_header_sorts_numerically(browser, page, header):
    load(browser, page)
    element, texts, keys = column(browser, 0, header)
    numbers = as_numbers(keys)
    assert len(set(numbers)) >= 3, texts  # enough distinct values for the order to mean something
    element.click()
    _, texts_up, keys_up = column(browser, 0, header)
    filled = [key for key in keys_up if key != ""]
    assert keys_up == filled + [""] * (len(keys_up) - len(filled))  # empty cells last
    assert as_numbers(keys_up) == sorted(numbers)
    element.click()
    _, texts_down, keys_down = column(browser, 0, header)
    assert as_numbers(keys_down) == sorted(numbers, reverse=True)
    assert keys_down[len(filled):] == [""] * (len(keys_down) - len(filled))
    assert element.get_attribute("data-order") == "desc"


def test_interval_cells_would_sort_wrongly_as_text(browser, page):
    """The columns above differ in text order and number order, so the sort test can fail."""
    load(browser, page)
    for header in ("Δ Tox. prob [95% CI]", "x less toxic"):
        _, texts, keys = column(browser, 0, header)
        filled = [(text, float(key)) for text, key in zip(texts, keys) if key]
        assert sorted(filled) != sorted(filled, key=lambda pair: pair[1]), header
        assert all("[" in text for text, _ in filled if not text.startswith("1.0x")), texts


def test_verdicts_show(browser, page):
    load(browser, page)
    _, toxicity, _ = column(browser, 0, "Toxicity verdict")
    _, abilities, _ = column(browser, 0, "Abilities verdict")
    assert {"less toxic", "more toxic"} <= set(toxicity)
    assert {"kept", "lost"} & set(abilities)
    cells = browser.find_elements("css selector", "td.verdict")
    assert cells and all(cell.is_displayed() for cell in cells)
    colours = {cell.text: cell.value_of_css_property("color") for cell in cells}
    assert colours["less toxic"] != colours["more toxic"]
