/* The order page: live progress by polling the order's JSON, the gallery, a
   full-size viewer, and canceling a queued order. */
(function () {
  "use strict";
  var P = window.Portal;
  var root = document.getElementById("order");
  var order = JSON.parse(document.getElementById("order-data").textContent);
  var pollMs = parseInt(root.dataset.pollMs, 10) || 2000;
  var statusBadge = document.getElementById("order-status");
  var progressCard = document.getElementById("order-progress-card");
  var progress = document.getElementById("order-progress");
  var progressText = document.getElementById("order-progress-text");
  var cancelForm = document.getElementById("cancel-form");
  var errorBox = document.getElementById("order-error");
  var gallery = document.getElementById("gallery");
  var zip = document.getElementById("order-zip");
  var viewer = document.getElementById("viewer");
  var viewerImage = document.getElementById("viewer-image");
  var viewerDownload = document.getElementById("viewer-download");
  var shown = order.headshots.length;
  var finished = ["succeeded", "failed", "canceled"];

  function label(status) { return status.charAt(0).toUpperCase() + status.slice(1); }

  function renderGallery(headshots) {
    gallery.textContent = "";
    headshots.forEach(function (headshot) {
      var figure = document.createElement("figure");
      figure.className = "gallery-item";
      var link = document.createElement("a");
      link.href = headshot.url; link.dataset.viewer = "";
      var image = document.createElement("img");
      image.src = headshot.thumbnail_url; image.loading = "lazy";
      var styleName = headshot.style_name || headshot.style;
      image.alt = styleName + " headshot " + (headshot.index + 1);
      link.append(image);
      var caption = document.createElement("figcaption");
      caption.className = "small";
      var text = document.createElement("span");
      text.textContent = styleName + " · " + headshot.width + "×" + headshot.height;
      var download = document.createElement("a");
      download.href = headshot.download_url; download.textContent = "Download";
      download.setAttribute("download", "");
      caption.append(text, download);
      figure.append(link, caption);
      gallery.append(figure);
    });
  }

  function render(data) {
    order = data;
    statusBadge.className = "badge badge-" + data.status;
    statusBadge.textContent = label(data.status);
    var p = data.progress;
    progress.max = p.total; progress.value = p.done;
    // A queued order says where it stands: its place and expected start, or that no
    // generator is running at all.
    progressText.textContent = data.queue ? data.queue.message
      : p.done + " of " + p.total + " done" + (p.stage ? " · " + p.stage : "");
    progressText.classList.toggle("notice-warn", Boolean(data.queue && !data.queue.generator_running));
    cancelForm.hidden = data.status !== "queued";
    progressCard.hidden = finished.indexOf(data.status) !== -1;
    if (data.error) {
      document.getElementById("order-error-message").textContent = data.error.message;
      document.getElementById("order-error-hint").textContent = data.error.hint;
      errorBox.hidden = false;
    }
    if (data.headshots.length !== shown) { renderGallery(data.headshots); shown = data.headshots.length; }
    zip.hidden = data.headshots.length === 0;
  }

  var failures = 0;
  function poll() {
    if (finished.indexOf(order.status) !== -1) { return; }
    P.requestJSON("GET", order.urls.status).then(function (data) {
      failures = 0;
      render(data);
      window.setTimeout(poll, pollMs);
    }, function () {
      // Back off while the connection is down (a phone going through a tunnel).
      failures += 1;
      window.setTimeout(poll, Math.min(pollMs * Math.pow(2, failures), 30000));
    });
  }
  window.setTimeout(poll, pollMs);

  cancelForm.addEventListener("submit", function (event) {
    event.preventDefault();
    P.requestJSON("POST", order.urls.cancel).then(render, function (error) {
      progressText.textContent = error.message;
    });
  });

  gallery.addEventListener("click", function (event) {
    var link = event.target.closest("[data-viewer]");
    if (!link || typeof viewer.showModal !== "function") { return; }
    event.preventDefault();
    viewerImage.src = link.href;
    viewerImage.alt = link.querySelector("img").alt;
    viewerDownload.href = link.href + "?download=1";
    viewer.showModal();
  });
  document.getElementById("viewer-close").addEventListener("click", function () { viewer.close(); });
  viewer.addEventListener("click", function (event) { if (event.target === viewer) { viewer.close(); } });
})();
