"""The connection's quick test for forwarded headers (six lookups spelled out, for speed) must know
exactly the keys the proxy rules apply: a key missing there would let a forwarded header from an
untrusted peer through unremoved."""
from hatchway.wsgi.exchange import has_forwarded
from hatchway.wsgi.proxy import FORWARDED_KEYS


def test_each_forwarded_key_is_seen():
    base = {"HTTP_HOST": "a", "HTTP_X_FORWARDED": "x", "HTTP_X_FORWARDED_FORX": "y", "REMOTE_ADDR": "1.2.3.4"}
    assert not has_forwarded(base)
    for key in FORWARDED_KEYS:
        assert has_forwarded({**base, key: "v"}), key


def test_the_quick_test_knows_no_key_the_rules_do_not():
    import ast
    import inspect
    import pathlib

    from hatchway.wsgi import exchange

    source = pathlib.Path(inspect.getfile(exchange)).with_name("exchange.py").read_text()
    fn = next(node for node in ast.walk(ast.parse(source))
              if isinstance(node, ast.FunctionDef) and node.name == "has_forwarded")
    spelled = {node.value for node in ast.walk(fn) if isinstance(node, ast.Constant) and isinstance(node.value, str)
               and node.value.startswith("HTTP_")}
    assert spelled == set(FORWARDED_KEYS)
