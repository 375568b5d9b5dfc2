"""The child of SimHost.call: python3 -m xdev.testing._child RESULT_FILE,
with (func, args, kwargs) pickled on stdin; writes ("ok", value, "") or
("err", exception or None, traceback text) to RESULT_FILE."""
import importlib.util
import pickle
import sys
import traceback


def main():
    out = sys.argv[1]
    try:
        func, args, kwargs = pickle.load(sys.stdin.buffer)
        if isinstance(func, tuple):  # ("__main__", script, name)
            spec = importlib.util.spec_from_file_location("__xdev_main__",
                                                          func[1])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            func = getattr(module, func[2])
        result = ("ok", func(*args, **kwargs), "")
    except BaseException as e:  # noqa: B902 - all of it goes back
        result = ("err", e, traceback.format_exc())
    try:
        data = pickle.dumps(result)
    except Exception:  # noqa: BLE001 - the value or exception won't pickle
        data = pickle.dumps(("err", None, result[2] or
                             f"unpicklable result: {result[1]!r}"))
    with open(out, "wb") as f:
        f.write(data)
    sys.stdout.flush()
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
