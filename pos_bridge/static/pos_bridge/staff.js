// Staff scanner: small helpers that need no bundling (the camera is in dist/camera.js).
// Everything here is an enhancement: without JavaScript the forms still work, and the
// server records a form's submit at most once whatever the browser sends.
(function () {
  "use strict";

  // One submit per rendered form: a double tap sends one request.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute("data-once")) return;
    if (form.dataset.submitted) {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "1";
    // Disabled after this event, so the clicked button's own value is still sent.
    setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
        button.dataset.label = button.textContent;
        button.textContent = "送信中…";
      });
    }, 0);
  }, true);

  // Back/forward cache: a page shown again must be usable again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      delete form.dataset.submitted;
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = false;
        if (button.dataset.label) button.textContent = button.dataset.label;
      });
    });
  });

  function toInt(text) {
    var digits = String(text || "").replace(/[０-９]/g, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xfee0);
    }).replace(/[^0-9]/g, "");
    return digits ? parseInt(digits, 10) : 0;
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-fill-points]");
    if (!button) return;
    var form = button.form;
    var balance = toInt(document.getElementById("balance").dataset.balance);
    var total = toInt(form.elements.total.value);
    form.elements.points_to_redeem.value = total ? Math.min(balance, total) : balance;
  });

  // Card code countdown: the code on the member's phone lives about a minute.
  function tick() {
    document.querySelectorAll("[data-expires-at]").forEach(function (el) {
      var left = Math.round((Date.parse(el.dataset.expiresAt) - Date.now()) / 1000);
      if (isNaN(left)) return;
      el.textContent = left > 0 ? "コードの有効期限まであと" + left + "秒" : el.dataset.expiredText;
      el.classList.toggle("warn", left <= 10);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
  });
})();
