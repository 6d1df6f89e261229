// Passkey buttons (WebAuthn), the site's one script, driven by markup:
//   <form method="post" action="ACTION" data-passkey-options="OPTIONS_URL"
//         data-passkey-ceremony="create|get">
//     <input type="hidden" name="credential"> <input type="hidden" name="passkey_challenge">
//     ...other fields... <button type="button" data-passkey-start>LABEL</button>
//   </form>
// A press posts the form's other fields to OPTIONS_URL, receives
// {"challenge": token, "options": webauthn-rs options}, asks the browser for the passkey,
// puts the answer (as webauthn-rs reads it) and the token in the hidden fields, and submits
// the form. The buttons stay hidden (the stylesheet) unless this browser can use passkeys.
// A button inside another form (an operator's confirmation of an action) names its own
// OPTIONS_URL in its `data-passkey-options` (ceremony get): the answer goes with the action.
(function () {
  "use strict";
  // Loaded once per page, whatever includes it (the layout does, on every page).
  if (window.learnersPasskeys || !window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
    return;
  }
  window.learnersPasskeys = true;
  document.documentElement.classList.add("passkeys");

  function toBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    if (!buffer) {
      return null;
    }
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      var copy = Object.assign({}, item);
      copy.id = toBytes(item.id);
      return copy;
    });
  }

  function creationOptions(options) {
    var key = Object.assign({}, options.publicKey);
    key.challenge = toBytes(key.challenge);
    key.user = Object.assign({}, key.user, { id: toBytes(key.user.id) });
    key.excludeCredentials = withIds(key.excludeCredentials);
    // A passkey: kept on the authenticator, so that it can sign in without an email.
    key.authenticatorSelection = Object.assign({}, key.authenticatorSelection, {
      residentKey: "required",
      requireResidentKey: true,
    });
    return { publicKey: key };
  }

  function requestOptions(options) {
    var key = Object.assign({}, options.publicKey);
    key.challenge = toBytes(key.challenge);
    if (key.allowCredentials) {
      key.allowCredentials = withIds(key.allowCredentials);
    }
    // The browser's dialog (a person pressed the button), not autofill: no `mediation`.
    return { publicKey: key };
  }

  function registration(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: {
        attestationObject: toBase64url(response.attestationObject),
        clientDataJSON: toBase64url(response.clientDataJSON),
        transports: response.getTransports ? response.getTransports() : undefined,
      },
    };
  }

  function assertion(credential) {
    var response = credential.response;
    return {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: {
        authenticatorData: toBase64url(response.authenticatorData),
        clientDataJSON: toBase64url(response.clientDataJSON),
        signature: toBase64url(response.signature),
        userHandle: toBase64url(response.userHandle),
      },
    };
  }

  function alertFor(button) {
    var next = button.nextElementSibling;
    if (next && next.getAttribute("role") === "alert") {
      return next;
    }
    var alert = document.createElement("p");
    alert.className = "alert";
    alert.setAttribute("role", "alert");
    button.insertAdjacentElement("afterend", alert);
    return alert;
  }

  function fail(button, message) {
    alertFor(button).textContent = message;
    button.disabled = false;
  }

  function otherFields(form) {
    var body = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (name !== "credential" && name !== "passkey_challenge" && typeof value === "string") {
        body.append(name, value);
      }
    });
    return body;
  }

  function start(button) {
    var form = button.form;
    var optionsUrl = form && (button.dataset.passkeyOptions || form.dataset.passkeyOptions);
    if (!optionsUrl) {
      return;
    }
    var create = !button.dataset.passkeyOptions && form.dataset.passkeyCeremony === "create";
    // A new passkey needs its name; a sign-in or a confirmation needs none of the other fields
    // (a confirmation's code field stays empty when the passkey answers instead).
    if (create && !form.reportValidity()) {
      return;
    }
    var challenge;
    button.disabled = true;
    fetch(optionsUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      body: otherFields(form),
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (answer) {
            if (!response.ok || !answer.options) {
              var message = answer.error && answer.error.message;
              throw { shown: message || "The passkey could not be started. Reload the page and try again." };
            }
            return answer;
          });
      })
      .then(function (answer) {
        challenge = answer.challenge;
        return create
          ? navigator.credentials.create(creationOptions(answer.options))
          : navigator.credentials.get(requestOptions(answer.options));
      })
      .then(function (credential) {
        if (!credential) {
          throw { shown: "No passkey was chosen." };
        }
        form.elements.credential.value = JSON.stringify(create ? registration(credential) : assertion(credential));
        form.elements.passkey_challenge.value = challenge;
        HTMLFormElement.prototype.submit.call(form);
      })
      .catch(function (error) {
        if (error && error.shown) {
          fail(button, error.shown);
        } else if (error && error.name === "NotAllowedError") {
          fail(button, "The passkey was cancelled or timed out. Try again, or use another way.");
        } else if (error && error.name === "InvalidStateError") {
          fail(button, "This device already holds a passkey for this account.");
        } else {
          fail(button, "The passkey did not work in this browser. Use another way to continue.");
        }
      });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-passkey-start]");
    if (button) {
      event.preventDefault();
      start(button);
    }
  });
})();
