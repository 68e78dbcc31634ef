// The operator's site page: live view with hls.js (served from its npm package, see
// package.json). A camera's "Watch live" button plays its HLS stream from the signed portal
// URL in data-live-src; hls.js runs its transmuxer in a worker loaded from the portal
// (workerPath), so the Content-Security-Policy needs no blob: worker.
(function () {
  "use strict";
  const script = document.currentScript;
  const workerPath = script ? script.getAttribute("data-hls-worker") : null;

  function startLive(button) {
    const card = button.closest("[data-testid=camera]");
    if (!card) return;
    const video = card.querySelector("video[data-live-src]");
    if (!video) return;
    const source = video.getAttribute("data-live-src");
    const still = card.querySelector(".camera-image");
    if (still) still.classList.add("d-none");
    video.classList.remove("d-none");
    button.disabled = true;
    if (window.Hls && window.Hls.isSupported()) {
      const hls = new window.Hls({ workerPath: workerPath, enableWorker: Boolean(workerPath) });
      hls.on(window.Hls.Events.MANIFEST_PARSED, function () {
        video.play().catch(function () { /* the controls let the operator start it */ });
      });
      hls.on(window.Hls.Events.ERROR, function (event, data) {
        if (data.fatal) {
          card.setAttribute("data-live-error", data.details || "error");
          hls.destroy();
          button.disabled = false;
        }
      });
      hls.loadSource(source);
      hls.attachMedia(video);
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = source;  // Safari plays HLS itself
      video.play().catch(function () {});
    }
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-live-start]");
    if (button) startLive(button);
  });
})();
