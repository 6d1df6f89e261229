#!/usr/bin/env python3
"""Open edX's own OpenID Connect client against this service.

Runs python-social-auth's `social_core.backends.open_id_connect.OpenIdConnectAuth` (the
backend Open edX uses, directly or through eox-core) through its own flow: `auth_url()`, a
learner's browser signing in on the site's sign-in page (plain HTTP, as a person's browser
would: the form, its hidden `next`, the redirects), then `auth_complete()` with the query the
provider sent back. The strategy and storage are the least the backend needs (settings, a
session, the nonce store); the pipeline is cut short where Open edX's would start, and the
user details the backend extracted are printed as JSON.

Environment: OIDC_ENDPOINT (the issuer), OIDC_KEY, OIDC_SECRET, OIDC_REDIRECT_URI (registered
for the application), LEARNER_EMAIL, LEARNER_PASSWORD.
"""

import json
from html import unescape as html_unescape
import os
import sys
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests
from social_core.backends.open_id_connect import OpenIdConnectAuth
from social_core.strategy import BaseStrategy
from social_core.utils import setting_name


class Association:
    def __init__(self, id_, server_url, association):
        self.id = id_
        self.server_url = server_url
        self.handle = association.handle
        self.secret = association.secret
        self.issued = association.issued
        self.lifetime = association.lifetime
        self.assoc_type = association.assoc_type


class AssociationStore:
    """Where the backend keeps its nonce between `auth_url` and `auth_complete`."""

    def __init__(self):
        self.items = []

    def store(self, server_url, association):
        self.items.append(Association(len(self.items) + 1, server_url, association))

    def get(self, server_url=None, handle=None):
        return [
            a
            for a in self.items
            if (server_url is None or a.server_url == server_url) and (handle is None or a.handle == handle)
        ]

    def remove(self, ids):
        self.items = [a for a in self.items if a.id not in ids]


class Storage:
    association = AssociationStore()


class Strategy(BaseStrategy):
    def __init__(self, settings):
        super().__init__(storage=Storage())
        self.settings = settings
        self.session = {}
        self.data = {}

    def get_setting(self, name):
        return self.settings[name]

    def request_data(self, merge=True):
        return self.data

    def request_host(self):
        return "lms.example.org"

    def redirect(self, url):
        return url

    def html(self, content):
        return content

    def render_html(self, tpl=None, html=None, context=None):
        return html or ""

    def build_absolute_uri(self, path=None):
        return path

    def session_get(self, name, default=None):
        return self.session.get(name, default)

    def session_set(self, name, value):
        self.session[name] = value

    def session_pop(self, name):
        return self.session.pop(name, None)

    def request_is_secure(self):
        return True

    def request_path(self):
        return "/auth/complete/oidc/"

    def request_port(self):
        return 443

    def request_get(self):
        return self.data

    def request_post(self):
        return {}

    def authenticate(self, backend, *args, **kwargs):
        # Where Open edX's pipeline would start: what the backend hands it.
        response = kwargs["response"]
        details = backend.get_user_details(response)
        return {"uid": backend.get_user_id(details, response), "details": details}


def hidden_value(html, name):
    marker = f'name="{name}" value="'
    start = html.index(marker) + len(marker)
    # As a browser reads an attribute: every character reference decoded (the page writes
    # `&#38;` for `&`).
    return html_unescape(html[start : html.index('"', start)])


def browser_signs_in(auth_url, endpoint, email, password):
    """The learner's browser: to the provider, its sign-in page, and back to the LMS."""
    browser = requests.Session()
    answer = browser.get(auth_url, allow_redirects=False)
    assert answer.status_code == 303, f"not signed in: the sign-in page ({answer.status_code})"
    login = urljoin(endpoint, answer.headers["location"])
    page = browser.get(login, headers={"accept": "text/html"})
    page.raise_for_status()
    form = {"next": hidden_value(page.text, "next"), "email": email, "password": password}
    signed_in = browser.post(
        urljoin(endpoint, "/api/v1/sessions"), data=form, headers={"origin": endpoint}, allow_redirects=False
    )
    assert signed_in.status_code == 303, f"sign-in answered {signed_in.status_code}: {signed_in.text[:300]}"
    # `requests` keeps `Secure` cookies for https only; the session cookie goes back by hand.
    cookie = signed_in.headers["set-cookie"].split(";")[0]
    back = browser.get(
        urljoin(endpoint, signed_in.headers["location"]), headers={"cookie": cookie}, allow_redirects=False
    )
    assert back.status_code == 302, f"the authorization answered {back.status_code}"
    return back.headers["location"]


def main():
    endpoint = os.environ["OIDC_ENDPOINT"]
    redirect_uri = os.environ["OIDC_REDIRECT_URI"]
    settings = {
        setting_name("oidc", "OIDC_ENDPOINT"): endpoint,
        setting_name("oidc", "KEY"): os.environ["OIDC_KEY"],
        setting_name("oidc", "SECRET"): os.environ["OIDC_SECRET"],
    }
    strategy = Strategy(settings)
    backend = OpenIdConnectAuth(strategy, redirect_uri=redirect_uri)
    auth_url = backend.auth_url()
    callback = browser_signs_in(auth_url, endpoint, os.environ["LEARNER_EMAIL"], os.environ["LEARNER_PASSWORD"])
    assert callback.startswith(redirect_uri), callback
    # The callback is another request: the LMS makes a new backend for it (same session).
    strategy.data = dict(parse_qsl(urlsplit(callback).query))
    backend = OpenIdConnectAuth(strategy, redirect_uri=redirect_uri)
    result = backend.auth_complete()
    json.dump(
        {
            "uid": result["uid"],
            "details": result["details"],
            "basic_auth": backend.use_basic_auth(),
            "iss_in_callback": strategy.data.get("iss"),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
