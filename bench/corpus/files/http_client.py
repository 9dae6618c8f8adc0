import time
import urllib.request


class RetryingClient:
    def __init__(self, base_url, retries=3, backoff=0.5):
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self.calls = 0

    def get(self, path, headers=None):
        url = self.base_url + "/" + path.lstrip("/")
        request = urllib.request.Request(url, headers=headers or {})
        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, response.read()
            except OSError:
                if attempt >= self.retries:
                    raise
                time.sleep(self.backoff * 2 ** (attempt - 1))

    def get_json(self, path):
        import json

        status, body = self.get(path, {"Accept": "application/json"})
        data = json.loads(body.decode("utf-8"))
        return data


def parse_query(query):
    # Zerlegt einen Query-String in ein Wörterbuch.
    params = {}
    for part in query.split("&"):
        # Leere Teile überspringen
        if not part:
            continue
        key, _, value = part.partition("=")
        # Mehrfache Schlüssel werden zu Listen
        if key in params:
            if not isinstance(params[key], list):
                params[key] = [params[key]]
            params[key].append(value)
        else:
            params[key] = value
    return params
