"""The static viewer in a real headless Chromium, opened from file:// (Debian's chromium and
chromium-driver: ``apt-get install -y chromium chromium-driver``).

Checks the pinned DOM contract: one ``[data-entity-id]`` element per track of rle.json, the
``#frame`` canvas and ``#frame-index``, and ``isolated`` toggled by a click; and that what
the canvas shows is exactly the masks of the output, for every step. A screenshot is saved
under the test's tmp dir and copied to $ENTITYSAM_ARTIFACTS when that is set.
"""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from entitysam.io.writers import entity_colour
from entitysam.viewer import write_viewer
from viewer_testkit import H, N, W, id_map

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
    pytest.skip("Debian's chromium and chromium-driver are not installed "
                "(apt-get install -y chromium chromium-driver)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# The masks canvas as entity ids: each opaque pixel's colour looked up among the entity colours.
CANVAS_IDS = """
const c = document.getElementById('frame');
const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const ents = window.ENTITYSAM_DATA.videos[0].entities;
const key = (r, g, b) => r + ',' + g + ',' + b;
const ids = {};
ents.forEach(e => { ids[key(e.colour[0], e.colour[1], e.colour[2])] = e.id; });
const out = new Array(c.width * c.height);
for (let i = 0; i < out.length; i++) {
  const a = px[4 * i + 3];
  out[i] = a === 0 ? 0 : (a === 255 ? (ids[key(px[4 * i], px[4 * i + 1], px[4 * i + 2])] ?? -1) : -2);
}
return [c.width, c.height, out];
"""


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,760", "--hide-scrollbars", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def canvas_ids(driver) -> np.ndarray:
    w, h, flat = driver.execute_script(CANVAS_IDS)
    assert (w, h) == (W, H)
    return np.array(flat, dtype=np.int32).reshape(H, W)


def wait_frame(driver, f: int) -> None:
    WebDriverWait(driver, 10).until(
        lambda d: d.find_element(By.ID, "frame").get_attribute("data-frame") == str(f)
        or d.find_element(By.TAG_NAME, "body").get_attribute("data-error"))
    assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-error") is None
    assert driver.find_element(By.ID, "frame-index").text == str(f)


def test_static_viewer_in_chromium(browser, clip, tmp_path):
    out, frames, _ = clip
    site = write_viewer(out, tmp_path / "site", frames=frames)
    browser.get((site / "index.html").resolve().as_uri())
    wait_frame(browser, 0)
    logs = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not logs, logs

    # one element per track of rle.json, in id order, with the overlay colour
    tracks = json.loads((out / "rle.json").read_text())["tracks"]
    items = browser.find_elements(By.CSS_SELECTOR, "[data-entity-id]")
    assert [int(e.get_attribute("data-entity-id")) for e in items] == [t["id"] for t in tracks]
    swatch = items[0].find_element(By.CLASS_NAME, "swatch").value_of_css_property("background-color")
    assert swatch.replace(" ", "") in ("rgb({},{},{})".format(*entity_colour(1)),
                                       "rgba({},{},{},1)".format(*entity_colour(1)))

    # the canvas is exactly the output's masks, frame after frame (RLE decoded in the page)
    np.testing.assert_array_equal(canvas_ids(browser), id_map(0))
    body = browser.find_element(By.TAG_NAME, "body")
    before = canvas_ids(browser)
    for f in (1, 2, 3):
        body.send_keys(Keys.ARROW_RIGHT)
        wait_frame(browser, f)
        now = canvas_ids(browser)
        assert (now != before).any()
        np.testing.assert_array_equal(now, id_map(f))
        before = now
    body.send_keys(Keys.ARROW_LEFT)
    wait_frame(browser, 2)
    np.testing.assert_array_equal(canvas_ids(browser), id_map(2))

    # isolate entity 3: only its colour is left; a second click restores all
    three = browser.find_element(By.CSS_SELECTOR, '[data-entity-id="3"]')
    three.click()
    assert "isolated" in three.get_attribute("class").split()
    shown = canvas_ids(browser)
    assert set(np.unique(shown)) == {0, 3} and (shown == 3).sum() == (id_map(2) == 3).sum()
    three.click()
    assert "isolated" not in three.get_attribute("class").split()
    np.testing.assert_array_equal(canvas_ids(browser), id_map(2))

    # hovering a pixel names the entity under the cursor
    canvas = browser.find_element(By.ID, "frame")
    rect = canvas.rect
    x, y = 32, 45  # in the band of entity 2
    ActionChains(browser).move_to_element_with_offset(
        canvas, int((x + 0.5) / W * rect["width"] - rect["width"] / 2),
        int((y + 0.5) / H * rect["height"] - rect["height"] / 2)).perform()
    WebDriverWait(browser, 5).until(lambda d: d.find_element(By.ID, "hover").text.startswith("#2"))
    assert "hover" in browser.find_element(By.CSS_SELECTOR, '[data-entity-id="2"]').get_attribute("class")

    # play runs to the last frame and stops there
    browser.find_element(By.ID, "play").click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "frame-index").text == str(N - 1))
    np.testing.assert_array_equal(canvas_ids(browser), id_map(N - 1))

    # the picture under the masks is the input frame (its own canvas)
    shot = tmp_path / "viewer.png"
    browser.find_element(By.CSS_SELECTOR, '[data-entity-id="1"]').click()
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 1000
    if os.environ.get("ENTITYSAM_ARTIFACTS"):
        dest = Path(os.environ["ENTITYSAM_ARTIFACTS"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, dest / "viewer_chromium.png")


def test_rle_decoder_matches_pycocotools(browser, tmp_path):
    """rle.js on masks pycocotools encoded: odd sizes, empty, full, long runs, many runs."""
    from entitysam.io.rle import encode_rle

    page = tmp_path / "rle.html"
    static = Path(__file__).resolve().parents[2] / "entitysam" / "viewer" / "static" / "rle.js"
    page.write_text(f"<script>{static.read_text()}</script>")
    browser.get(page.as_uri())
    rng = np.random.default_rng(0)
    masks = [np.zeros((5, 7), bool), np.ones((3, 2), bool), rng.random((37, 53)) < 0.5,
             np.pad(np.ones((300, 500), bool), ((10, 20), (30, 40))), rng.random((9, 1000)) < 0.02]
    for m in masks:
        h, w = m.shape
        got = browser.execute_script(
            "const m = new Uint8Array(arguments[1] * arguments[2]);"
            "EntitySAM.rle.paint(m, arguments[0], arguments[1], arguments[2], 1); return Array.from(m);",
            encode_rle(m)["counts"], h, w)
        np.testing.assert_array_equal(np.array(got, bool).reshape(h, w), m)
