"""`munit serve`: the handlers (same pixels as `munit translate`, clear messages for bad input,
flat memory), and the page itself in a real headless Chromium driven by Selenium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from munit_cli import load_checkpoint
from munit_cli.errors import DataError
from munit_cli.serve import Translator, interpolation

from .test_cli_processes import MUNIT, munit, ok

gradio = pytest.importorskip("gradio")


def _pixels(image) -> np.ndarray:
    return np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else Image.open(image).convert("RGB"))


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("photo") / "dog.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(path, quality=90)
    return path


@pytest.fixture(scope="module")
def translator(trained_checkpoint) -> Translator:
    return Translator(load_checkpoint(trained_checkpoint, use_ema=True), image_size=32)  # as munit serve loads it


def _cli_translations(checkpoint: Path, photo: Path, out: Path, *extra: str) -> list[np.ndarray]:
    ok(munit("translate", str(photo), "--checkpoint", str(checkpoint), "--precision", "fp32", "--device", "cpu",
             "--out", str(out), *extra, cwd=out.parent))
    return [_pixels(p) for p in sorted(out.glob(f"{photo.stem}_style*.png"), key=lambda p: int(p.stem.split("style")[1]))]


def test_random_styles_are_the_pixels_munit_translate_writes(translator, trained_checkpoint, photo, tmp_path):
    result = translator.random_styles(str(photo), "A2B", 4, 3)
    assert len(result.images) == 4 and result.seconds > 0
    want = _cli_translations(trained_checkpoint, photo, tmp_path / "cli", "-n", "4", "--seed", "3")
    for got, expected in zip(result.images, want, strict=True):
        assert np.array_equal(_pixels(got), expected)


def test_reference_and_interpolation(translator, trained_checkpoint, photo, shapes_root, tmp_path):
    reference = sorted((shapes_root / "test" / "paint").glob("*.png"))[0]
    got = translator.reference_style(str(photo), "A2B", str(reference)).images[0]
    want = _cli_translations(trained_checkpoint, photo, tmp_path / "cli", "--style-ref", str(reference))
    assert np.array_equal(_pixels(got), want[0])

    styles = translator.random_styles(str(photo), "A2B", 3, 0).styles
    ends = [translator.with_styles(str(photo), "A2B", interpolation(styles, 1, 3, t)).images[0] for t in (0.0, 1.0)]
    gallery = translator.random_styles(str(photo), "A2B", 3, 0).images
    assert np.array_equal(_pixels(ends[0]), _pixels(gallery[0])) and np.array_equal(_pixels(ends[1]), _pixels(gallery[2]))
    with pytest.raises(DataError, match="pick styles between 1 and 3"):
        interpolation(styles, 0, 4, 0.5)


def _bad_inputs(folder: Path) -> dict[str, tuple[Path | None, str]]:
    folder.mkdir(exist_ok=True)
    (folder / "notes.jpg").write_text("not an image")
    (folder / "empty.png").write_bytes(b"")
    good = BytesIO()
    Image.fromarray((np.random.default_rng(1).random((200, 200, 3)) * 255).astype(np.uint8)).save(good, "JPEG")
    (folder / "truncated.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) * 6 // 10])
    Image.new("1", (12000, 12000)).save(folder / "huge.png")
    return {"none": (None, "no image uploaded"), "text": (folder / "notes.jpg", "not an image"),
            "empty": (folder / "empty.png", "empty"), "truncated": (folder / "truncated.jpg", "cannot be decoded"),
            "huge": (folder / "huge.png", "12000x12000 pixels; the limit is 40 megapixels")}


def test_bad_uploads_are_messages_and_odd_modes_are_converted(translator, tmp_path):
    for path, message in _bad_inputs(tmp_path / "bad").values():
        with pytest.raises(DataError, match=message):
            translator.random_styles(str(path) if path else None, "A2B", 2, 0)
    odd = {"cmyk.jpg": Image.new("CMYK", (40, 40), (0, 120, 0, 30)),
           "sixteen.png": Image.fromarray(np.full((40, 40), 40000, np.uint16)),
           "alpha.png": Image.new("RGBA", (40, 40), (0, 0, 255, 100)), "grey.png": Image.new("L", (40, 40), 77)}
    for name, image in odd.items():
        image.save(tmp_path / name)
        assert len(translator.random_styles(str(tmp_path / name), "B2A", 2, 0).images) == 2


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads memory use from /proc")
def test_memory_stays_flat_over_200_requests(translator, photo):
    for _ in range(20):  # warm-up: allocator pools, lazily built state
        translator.random_styles(str(photo), "A2B", 4, 0)
    before = _rss_mib()
    for seed in range(200):
        translator.random_styles(str(photo), "A2B", 4, seed)
    # 200 requests of 4 images at 32x32: a leak of even one input or result per request would
    # pass 10 MiB; allocator noise stays well below it.
    assert _rss_mib() - before < 10


# ---------------------------------------------------------------------------------------------
# The page in a real browser.


def _chromium() -> tuple[str, str] | None:
    browser = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(trained_checkpoint, tmp_path_factory):
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([str(MUNIT), "serve", str(trained_checkpoint), "--port", str(port), "--device", "cpu",
                                 "--precision", "fp32"], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "COLUMNS": "200"})
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"munit serve exited: {log.read_text()}")
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail(f"munit serve did not answer in 120 s: {log.read_text()}")
    yield url
    proc.terminate()
    proc.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def browser():
    found = _chromium()
    if found is None:
        pytest.skip("no Chromium and chromedriver on PATH (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = found[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(found[1]), options=options)
    yield driver
    driver.quit()


def _fetch(src: str) -> np.ndarray:
    with urllib.request.urlopen(src, timeout=30) as response:
        return _pixels(BytesIO(response.read()))


def test_the_page_in_a_real_browser(server, browser, trained_checkpoint, photo, shapes_root, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 90)
    browser.get(server)

    def upload(component: str, path: Path) -> None:
        selector = f"#{component} input[type=file]"
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, selector))
        browser.find_element(By.CSS_SELECTOR, selector).send_keys(str(path))
        wait.until(lambda d: path.stem in d.find_element(By.ID, component).text)  # "dog\n.jpg\n1.1 KB"

    def set_number(element_id: str, value: str) -> None:
        box = browser.find_element(By.CSS_SELECTOR, f"#{element_id} input")
        box.clear()
        box.send_keys(value)

    def status() -> str:
        return browser.find_element(By.ID, "status").text

    def image_src(element_id: str) -> str:
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#{element_id} img"))
        return browser.find_element(By.CSS_SELECTOR, f"#{element_id} img").get_attribute("src")

    # 4 random styles: the same pixels as `munit translate --seed 5 -n 4`.
    upload("source-file", photo)
    set_number("n-styles", "4")
    set_number("seed", "5")
    browser.find_element(By.ID, "translate").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#gallery img")) == 4 and "4 style(s) in" in status())
    shown = [_fetch(img.get_attribute("src")) for img in browser.find_elements(By.CSS_SELECTOR, "#gallery img")]
    want = _cli_translations(trained_checkpoint, photo, tmp_path / "cli", "-n", "4", "--seed", "5")
    for got, expected in zip(shown, want, strict=True):
        assert np.array_equal(got, expected)

    # A reference image's style.
    reference = sorted((shapes_root / "test" / "paint").glob("*.png"))[0]
    browser.find_element(By.XPATH, "//button[@role='tab'][contains(., 'Reference style')]").click()
    upload("reference-file", reference)
    browser.find_element(By.ID, "reference-run").click()
    wait.until(lambda d: "reference style in" in status())
    want = _cli_translations(trained_checkpoint, photo, tmp_path / "ref", "--style-ref", str(reference))
    assert np.array_equal(_fetch(image_src("reference-output")), want[0])

    # The interpolation slider: its end is gallery style 2 exactly.
    browser.find_element(By.XPATH, "//button[@role='tab'][contains(., 'Interpolate')]").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#interp-t input[type=range]"))
    slider = browser.find_element(By.CSS_SELECTOR, "#interp-t input[type=range]")
    browser.execute_script("arguments[0].value = 1; arguments[0].dispatchEvent(new Event('input', {bubbles: true}));"
                           "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));"
                           "arguments[0].dispatchEvent(new PointerEvent('pointerup', {bubbles: true}));", slider)
    wait.until(lambda d: "style 1 → 2 at 1.00" in status())
    assert np.array_equal(_fetch(image_src("interp-output")), shown[1])

    # A junk upload is a message on the page, and the server keeps answering.
    junk = tmp_path / "junk.jpg"
    junk.write_text("this is not a picture")
    browser.find_element(By.XPATH, "//button[@role='tab'][contains(., 'Random styles')]").click()
    browser.find_element(By.CSS_SELECTOR, "#source-file button[aria-label='Clear']").click()
    upload("source-file", junk)
    browser.find_element(By.ID, "translate").click()
    wait.until(lambda d: "error:" in status())
    assert "not an image" in status()
    browser.find_element(By.CSS_SELECTOR, "#source-file button[aria-label='Clear']").click()
    upload("source-file", photo)

    # Two tabs asking at once: the queue serves both, one after the other.
    first_tab = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(server)
    upload("source-file", photo)
    second_tab = browser.current_window_handle
    for tab in (first_tab, second_tab):
        browser.switch_to.window(tab)
        browser.find_element(By.ID, "translate").click()
    for tab in (first_tab, second_tab):
        browser.switch_to.window(tab)
        wait.until(lambda d: "4 style(s) in" in status() and len(d.find_elements(By.CSS_SELECTOR, "#gallery img")) == 4)


def test_serve_without_a_checkpoint_is_a_clear_error(tmp_path):
    proc = subprocess.run([str(MUNIT), "serve", "--device", "cpu"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1 and "error: no trained model found" in proc.stderr and "Traceback" not in proc.stderr


def test_a_taken_port_is_a_clear_error(trained_checkpoint, tmp_path):
    """Said in the command's words (not Gradio's advice to set an environment variable), and without the
    'serving at' line, which is printed only once the page is listening."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([str(MUNIT), "serve", str(trained_checkpoint), "--port", str(port), "--device", "cpu"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[-1] == (f"error: cannot listen on 127.0.0.1:{port} (the port is in use); "
                                            "choose another --port or --host")
    assert "Traceback" not in proc.stderr and "serving" not in proc.stdout


def test_a_port_out_of_range_is_a_usage_error(tmp_path):
    proc = munit("serve", "--port", "99999", "--device", "cpu", cwd=tmp_path)  # was a traceback from bind()
    assert proc.returncode == 2 and "error: Invalid value for '--port'" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
