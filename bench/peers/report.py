"""The peers' one output format: the result as JSON on stdout, and in --out when given."""
import json


def write_report(result, out, indent=None):
    text = json.dumps(result, indent=indent)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
