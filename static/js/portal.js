/* Shared helpers for the portal's pages: CSRF-aware JSON requests and error text. */
(function () {
  "use strict";

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /* Our endpoints answer errors as {"error": {"code", "message"}}; anything else
     (a proxy's HTML page, a dropped connection) gets a plain sentence. */
  function errorFrom(status, body) {
    if (body && body.error && body.error.message) {
      return { code: body.error.code, message: body.error.message, status: status };
    }
    if (status === 413) {
      return { code: "file_too_large", message: "That file is too large to upload.", status: status };
    }
    return { code: "network", message: "Something went wrong (" + (status || "no connection") + "). Please try again.", status: status };
  }

  function parse(text) {
    try { return JSON.parse(text); } catch (e) { return null; }
  }

  function requestJSON(method, url, body) {
    var headers = { "Accept": "application/json", "X-CSRFToken": csrfToken() };
    var payload = body;
    if (body && !(body instanceof FormData)) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    return fetch(url, { method: method, headers: headers, body: payload, credentials: "same-origin" })
      .then(function (response) {
        return response.text().then(function (text) {
          var data = parse(text);
          if (!response.ok) { throw errorFrom(response.status, data); }
          return data;
        });
      }, function () { throw errorFrom(0, null); });
  }

  /* XHR rather than fetch: only XHR reports upload progress. */
  function upload(url, formData, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.setRequestHeader("X-CSRFToken", csrfToken());
      xhr.upload.onprogress = function (event) {
        if (event.lengthComputable) { onProgress(Math.round((event.loaded / event.total) * 100)); }
      };
      xhr.onload = function () {
        var data = parse(xhr.responseText);
        if (xhr.status >= 200 && xhr.status < 300) { resolve(data); } else { reject(errorFrom(xhr.status, data)); }
      };
      xhr.onerror = function () { reject(errorFrom(0, null)); };
      xhr.send(formData);
    });
  }

  function show(element, text) {
    element.textContent = text;
    element.hidden = !text;
  }

  function relativeTime(iso) {
    var minutes = Math.round((new Date(iso) - new Date()) / 60000);
    if (minutes <= 1) { return "in a minute"; }
    if (minutes < 60) { return "in " + minutes + " minutes"; }
    var hours = Math.round(minutes / 60);
    return "in " + hours + " hour" + (hours === 1 ? "" : "s");
  }

  window.Portal = { requestJSON: requestJSON, upload: upload, show: show, relativeTime: relativeTime };
})();
