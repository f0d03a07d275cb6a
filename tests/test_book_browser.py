"""The built book in headless Chromium with no network: every chapter's figures load, no broken images or links,
the explorers render and answer a hover, and the site works from a plain static file server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

from qaplib.book import notebook_names

REPO = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")

if not (CHROMIUM and CHROMEDRIVER):
    if os.environ.get("CI"):
        pytest.fail("CI must install Debian's chromium and chromium-driver (.ci/run does)", pytrace=False)
    pytest.skip("headless Chromium not installed (apt-get install chromium chromium-driver)", allow_module_level=True)


@pytest.fixture(scope="module")
def built_book(tmp_path_factory) -> Path:
    """Build the committed book into a temporary directory, warnings as errors."""
    out = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", str(REPO / "book"), "--path-output", str(out), "--warningiserror"],
                            capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out / "_build" / "html"


#: No host name resolves except the local server's: a page that needs the network fails to load it.
NO_NETWORK = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 NO_NETWORK):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # every request the pages make
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


IMAGES_LOADED = """return Array.from(document.images).map(i => [i.currentSrc || i.src, i.complete && i.naturalWidth > 0]);"""
LINKS = """return Array.from(document.querySelectorAll('a[href]')).map(a => a.href);"""


@pytest.mark.slow
@pytest.mark.parametrize("chapter", notebook_names())
def test_chapter_figures_load_and_links_resolve(chapter, built_book, browser):
    page = built_book / "chapters" / f"{chapter}.html"
    assert page.exists(), f"{chapter} is missing from the built book"
    browser.get(page.as_uri())
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight);")
    images = browser.execute_script(IMAGES_LOADED)
    figures = [src for src, _ in images if "/_images/" in src]
    assert figures, f"{chapter}: no figure images"
    broken = [src for src, ok in images if not ok]
    assert not broken, f"{chapter}: broken images {broken}"
    figures_shown = browser.find_elements("css selector", "figure[id^='fig-']")
    assert figures_shown, f"{chapter}: no labelled figure"
    for figure in figures_shown:  # every figure carries its glued provenance line
        caption = figure.text
        assert "made by notebooks/" in caption and "Download: PDF" in caption, (chapter, caption[:200])
    parameters = browser.find_elements("css selector", "div.cell.tag_parameters div.cell_input")
    assert len(parameters) == 1 and parameters[0].is_displayed(), f"{chapter}: the parameters cell is not shown"
    folded = browser.find_elements("css selector", "div.cell.tag_hide-input")
    assert folded and all(cell.find_element("css selector", "details").get_attribute("open") is None for cell in folded)
    verdicts = [v.text for v in browser.find_elements("css selector", "div.admonition.tip")]
    assert verdicts and all(re.search(r"\d", v) for v in verdicts), f"{chapter}: no verdict with numbers: {verdicts}"
    body = browser.find_element("tag name", "main").text
    assert "{glue" not in body and "glue:" not in body, f"{chapter}: an unresolved glue reference is shown"
    dead = []
    for href in browser.execute_script(LINKS):
        url = urlparse(urldefrag(href).url)
        if url.scheme == "file" and not Path(url.path).exists():
            dead.append(href)
    assert not dead, f"{chapter}: dead links {dead}"


@pytest.fixture(scope="module")
def served_book(built_book):
    """The built book behind a plain static file server on 127.0.0.1 (as a forge's pages serve it)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(built_book)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def requested_urls(browser) -> list[str]:
    """The URLs the browser requested since the last call (Chrome's performance log)."""
    import json

    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def wait_for(browser, script: str, timeout: float = 20.0):
    """Poll ``script`` (JavaScript returning a value) until it is truthy; returns it."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(lambda driver: driver.execute_script(script))


EXPLORERS = {"02_qap_sweep": "explorer-qap-accuracy-bops", "08_firmware": "explorer-firmware-lut-bops"}


@pytest.mark.slow
@pytest.mark.parametrize("chapter", sorted(EXPLORERS))
def test_the_explorer_renders_shows_a_tooltip_on_hover_and_its_legend_toggles_bit_widths(chapter, served_book, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    browser.get(f"{served_book}/chapters/{chapter}.html")
    div = EXPLORERS[chapter]
    points = wait_for(browser, f"return document.querySelectorAll('#{div} .scatterlayer .point').length")
    assert points >= 5, f"{chapter}: the explorer drew {points} points"
    point = browser.find_elements("css selector", f"#{div} .scatterlayer .point")[-1]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", point)
    ActionChains(browser).move_to_element(point).perform()
    tooltip = wait_for(browser, f"const t = document.querySelector('#{div} .hoverlayer .hovertext'); return t && t.textContent;")
    assert "-bit" in tooltip and "pruned" in tooltip and "accuracy" in tooltip and "BOPs" in tooltip, tooltip
    assert "run key" in tooltip and "LUT" in tooltip, tooltip
    traces = browser.execute_script(f"return document.getElementById('{div}').data.length")
    browser.find_elements("css selector", f"#{div} .legend .traces")[0].click()
    hidden = wait_for(browser, f"return document.getElementById('{div}').data.filter(t => t.visible === 'legendonly').length")
    assert hidden == 1 and traces >= 2


@pytest.mark.slow
def test_the_site_works_from_a_static_server_with_no_network(served_book, browser):
    """Pages, the explorers' script, the search and the downloads all come from the server itself."""
    import urllib.request

    requested_urls(browser)  # forget what earlier tests requested
    browser.get(f"{served_book}/search.html?q=pruning")
    hits = wait_for(browser, "return document.querySelectorAll('#search-results li').length")
    assert hits >= 3, f"the search for 'pruning' found {hits} pages"
    browser.get(f"{served_book}/chapters/02_qap_sweep.html")
    wait_for(browser, "return window.Plotly && document.querySelector('.plotly-graph-div .main-svg')")
    downloads = browser.execute_script("return Array.from(document.querySelectorAll('a.download')).map(a => a.href)")
    assert any(href.endswith(".pdf") for href in downloads), downloads
    starts = {".pdf": b"%PDF", ".png": b"\x89PNG", ".svg": b"<?xml", ".json": b"{", ".bib": b"@misc"}
    for href in downloads[:5]:  # one figure's PDF, SVG, PNG, provenance and BibTeX
        with urllib.request.urlopen(href) as response:
            assert response.status == 200 and response.read().startswith(starts[Path(href).suffix]), href
    outside = [url for url in requested_urls(browser) if not url.startswith((served_book, "data:", "blob:", "about:"))]
    assert not outside, f"the pages asked the network for {outside}"


@pytest.mark.slow
def test_every_chapter_launches_on_binder_from_the_one_configured_repository(built_book):
    import yaml

    config = yaml.safe_load((REPO / "book" / "_config.yml").read_text())
    owner_repo = urlparse(config["repository"]["url"]).path.strip("/")
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert os.access(REPO / "postBuild", os.X_OK) and "pip install --no-deps -e ." in (REPO / "postBuild").read_text()
    for chapter in notebook_names():
        html = (built_book / "chapters" / f"{chapter}.html").read_text()
        expected = (f"https://mybinder.org/v2/gh/{owner_repo}/{config['repository']['branch']}"
                    f"?urlpath=lab/tree/book/chapters/{chapter}.ipynb")  # fmt: skip
        assert f'href="{expected}"' in html, chapter


@pytest.mark.slow
def test_a_book_with_a_paper_scale_chapter_builds_with_its_own_labels(tmp_path):
    """A chapter published at the paper's scale stands beside the default one: no clashing label, links resolve."""
    import nbformat

    from qaplib.book import label_for_scale, write_toc
    from qaplib.glance import write_glance
    from qaplib.profiles import get_profile

    book = tmp_path / "book"
    # Leave out the committed paper-scale part: this test builds its own from the default chapter.
    shutil.copytree(REPO / "book", book, ignore=shutil.ignore_patterns("_build", "paper"))
    shutil.copytree(book / "chapters" / "figures", book / "paper" / "figures")
    nb = nbformat.read(book / "chapters" / "02_qap_sweep.ipynb", as_version=4)
    label_for_scale(nb, get_profile("paper"))
    nbformat.write(nb, book / "paper" / "02_qap_sweep.ipynb")
    write_toc(book)
    write_glance(book)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", str(book), "--warningiserror"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    page = (book / "_build" / "html" / "paper" / "02_qap_sweep.html").read_text()
    assert 'id="fig-qap-accuracy-auc-paper"' in page and 'id="verdict-qap-paper"' in page
    assert "(at the paper’s scale)" in page or "(at the paper's scale)" in page
    intro = (book / "_build" / "html" / "intro.html").read_text()
    assert "paper/02_qap_sweep.html#verdict-qap-paper" in intro
