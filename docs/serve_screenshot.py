"""Take docs/serve.png: `munit serve` on a checkpoint, one image in 8 random styles, in headless Chromium.

    python docs/serve_screenshot.py CHECKPOINT IMAGE OUT.png [--port 7869]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("image", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--port", type=int, default=7869)
    args = parser.parse_args()
    munit = Path(sys.executable).parent / "munit"
    server = subprocess.Popen([str(munit), "serve", args.checkpoint, "--port", str(args.port), "--device", "cpu"])
    try:
        url = f"http://127.0.0.1:{args.port}/"
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        wait = WebDriverWait(driver, 120)
        driver.get(url)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#source-file input[type=file]"))
        driver.find_element(By.CSS_SELECTOR, "#source-file input[type=file]").send_keys(str(args.image.resolve()))
        wait.until(lambda d: args.image.stem in d.find_element(By.ID, "source-file").text)
        box = driver.find_element(By.CSS_SELECTOR, "#n-styles input")
        box.clear()
        box.send_keys("8")
        driver.find_element(By.ID, "translate").click()
        wait.until(lambda d: "8 style(s) in" in d.find_element(By.ID, "status").text)
        time.sleep(1)  # let the gallery's images finish loading
        driver.save_screenshot(str(args.out))
        driver.quit()
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
