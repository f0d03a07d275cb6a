"""The built book in headless Chromium: every chapter's figures load, no broken images or links."""

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


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):  # fmt: skip
        options.add_argument(flag)
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
