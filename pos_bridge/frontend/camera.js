// Staff scanner camera: decodes the member card QR (or a plastic card's barcode) with
// @zxing/browser and submits it through the same form a USB scanner types into.
// Bundled by scripts/build-frontend.mjs into static/staff/dist/camera.js.
import { BrowserMultiFormatReader } from "@zxing/browser";
import { BarcodeFormat, DecodeHintType } from "@zxing/library";

// The LINE card shows a QR code; plastic point cards in Japan mostly carry CODE128,
// NW-7 (Codabar), JAN (EAN-13), CODE39 or ITF barcodes of the card number.
const FORMATS = [
  BarcodeFormat.QR_CODE,
  BarcodeFormat.CODE_128,
  BarcodeFormat.CODABAR,
  BarcodeFormat.EAN_13,
  BarcodeFormat.CODE_39,
  BarcodeFormat.ITF,
];

function setUp(root) {
  const form = root.closest("form");
  const field = form && form.elements.namedItem("card");
  if (!field || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
  const startButton = root.querySelector("[data-camera-start]");
  const stopButton = root.querySelector("[data-camera-stop]");
  const view = root.querySelector("[data-camera-view]");
  const video = root.querySelector("[data-camera-video]");
  const status = root.querySelector("[data-camera-status]");
  const reader = new BrowserMultiFormatReader(
    new Map([[DecodeHintType.POSSIBLE_FORMATS, FORMATS]]),
    { delayBetweenScanAttempts: 150 },
  );
  let controls = null;

  function stop() {
    if (controls) controls.stop();
    controls = null;
    view.hidden = true;
    startButton.hidden = false;
  }

  startButton.addEventListener("click", async () => {
    startButton.hidden = true;
    view.hidden = false;
    status.textContent = "カメラを起動しています…";
    try {
      controls = await reader.decodeFromConstraints(
        { video: { facingMode: "environment" } },
        video,
        (result, _error, scanner) => {
          if (!result || form.dataset.submitted) return;
          scanner.stop();
          controls = null;
          field.value = result.getText();
          status.textContent = "読み取りました。確認しています…";
          if (navigator.vibrate) navigator.vibrate(60);
          form.requestSubmit();
        },
      );
      status.textContent = "会員証のQRコード（またはカードのバーコード）を映してください。";
    } catch (error) {
      stop();
      view.hidden = false;
      status.textContent =
        "カメラを使えません（" + (error && error.name ? error.name : "エラー") +
        "）。USBスキャナーか番号の入力をご利用ください。";
    }
  });
  stopButton.addEventListener("click", stop);
  // Release the camera when leaving the page (iOS keeps it busy otherwise).
  window.addEventListener("pagehide", () => controls && controls.stop());
  root.hidden = false;
}

document.querySelectorAll("[data-camera]").forEach(setUp);
