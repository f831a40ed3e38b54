# Dev tool of the differential suite (scripts/differential/record.ts starts it; see docs/pipelines.md, "Differential
# suite"). Runs the executors of a local Azure/contentflow checkout on the cases of a corpus file and prints their
# outputs as JSON. Nothing here is product code and nothing of ContentFlow is copied: the checkout's own modules are
# imported from a package tree made in a temp dir, next to small stubs for the agent framework (only the names the
# executors import) and an empty `contentflow/__init__` / `utils/__init__` so that the Azure SDK is never imported.
#
# usage: python3 contentflow_runner.py <contentflow checkout> <corpus.json> <output.json> [python-pptx src dir]
import asyncio
import json
import os
import shutil
import sys
import tempfile
import types
from datetime import date, datetime

AGENT_FRAMEWORK_STUB = '''
class Executor:
    def __init__(self, id=None, **kwargs):
        self.id = id

def handler(fn):
    return fn

class _Subscriptable:
    def __class_getitem__(cls, item):
        return cls

class WorkflowContext(_Subscriptable):
    pass

class WorkflowExecutor(_Subscriptable):
    pass

class Workflow(_Subscriptable):
    pass
'''

EXECUTORS_INIT = '''
from .base import BaseExecutor
from .parallel_executor import ParallelExecutor
'''


def build_tree(checkout, tmp):
    lib = os.path.join(checkout, "contentflow-lib", "contentflow")
    pkg = os.path.join(tmp, "contentflow")
    os.makedirs(os.path.join(pkg, "executors"))
    os.makedirs(os.path.join(pkg, "utils"))
    open(os.path.join(pkg, "__init__.py"), "w").close()
    open(os.path.join(pkg, "utils", "__init__.py"), "w").close()
    os.symlink(os.path.join(lib, "models"), os.path.join(pkg, "models"))
    for name in os.listdir(os.path.join(lib, "utils")):
        if name.endswith(".py") and name != "__init__.py":
            os.symlink(os.path.join(lib, "utils", name), os.path.join(pkg, "utils", name))
    for name in os.listdir(os.path.join(lib, "executors")):
        if name.endswith(".py") and name != "__init__.py":
            os.symlink(os.path.join(lib, "executors", name), os.path.join(pkg, "executors", name))
    with open(os.path.join(pkg, "executors", "__init__.py"), "w") as f:
        f.write(EXECUTORS_INIT)
    # for_each_content loads the catalog from three levels above its module: here, the temp dir.
    catalog = os.path.join(checkout, "contentflow-lib", "executor_catalog.yaml")
    os.symlink(catalog, os.path.join(tmp, "executor_catalog.yaml"))
    with open(os.path.join(tmp, "agent_framework.py"), "w") as f:
        f.write(AGENT_FRAMEWORK_STUB)
    # Debian's python3-fitz names the module `fitz` only; the extractor imports `pymupdf`.
    with open(os.path.join(tmp, "pymupdf.py"), "w") as f:
        f.write("from fitz import *\n")


def pydantic_compat():
    # Debian's python3-pydantic is 1.10; ContentFlow is written for 2.x. The executors we run use model_dump and
    # model_copy only, which map one to one onto 1.x's dict and copy.
    import pydantic
    if not hasattr(pydantic.BaseModel, "model_dump"):
        pydantic.BaseModel.model_dump = lambda self, **kw: self.dict(**kw)
        pydantic.BaseModel.model_copy = lambda self, **kw: self.copy(**kw)
    return pydantic.VERSION


class Ctx:
    def __init__(self):
        self.sent = []
        self.outputs = []

    async def send_message(self, message, *args, **kwargs):
        self.sent.append(message)

    async def yield_output(self, output, *args, **kwargs):
        self.outputs.append(output)

    async def get_shared_state(self, *args, **kwargs):
        return None

    async def set_shared_state(self, *args, **kwargs):
        return None


def to_json(value):
    if hasattr(value, "dict") and hasattr(value, "__fields__"):
        return to_json(value.dict())
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return {"$bytes": len(value)}
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return {"$float": repr(value)}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return {"$repr": type(value).__name__}


async def run_case(registry, Content, case):
    config = registry.get_executor_config(case["type"])
    if config is None:
        return {"outcome": "refused", "error": "unknown type"}
    try:
        settings = config.validate_settings(case.get("settings") or {})
        cls = registry._load_executor_class(config)
        executor = cls(id=case.get("id", "x"), settings=settings)
    except Exception as e:  # refused when the pipeline is built
        return {"outcome": "refused", "error": f"{type(e).__name__}: {e}"}
    ctx = Ctx()
    try:
        if case.get("branches") is not None:
            branches = [[Content(**c) for c in branch] for branch in case["branches"]]
            await executor.handle_multiple_edge_input(branches, ctx)
        else:
            items = [Content(**c) for c in case["input"]]
            await executor.handle_content(items, ctx)
    except Exception as e:
        return {"outcome": "failed", "error": f"{type(e).__name__}: {e}"}
    if not ctx.sent:
        return {"outcome": "failed", "error": "nothing sent"}
    out = ctx.sent[-1]
    if not isinstance(out, list):
        out = [out]
    return {"outcome": "ok", "output": to_json(out)}


def main():
    checkout, corpus_path, out_path = sys.argv[1:4]
    pptx_src = sys.argv[4] if len(sys.argv) > 4 else ""
    tmp = tempfile.mkdtemp(prefix="contentflow-differential-")
    try:
        build_tree(checkout, tmp)
        sys.path.insert(0, tmp)
        if pptx_src and os.path.isdir(pptx_src):
            sys.path.insert(1, pptx_src)
        pydantic_version = pydantic_compat()
        import logging
        logging.disable(logging.CRITICAL)
        from contentflow.executors.executor_registry import ExecutorRegistry
        from contentflow.models import Content
        registry = ExecutorRegistry.load_from_yaml(os.path.join(checkout, "contentflow-lib", "executor_catalog.yaml"))
        with open(corpus_path) as f:
            corpus = json.load(f)
        results = {}
        for case in corpus["cases"]:
            results[case["name"]] = asyncio.run(run_case(registry, Content, case))
        available = {}
        for module in ("docx", "openpyxl", "fitz", "pptx"):
            try:
                __import__(module)
                available[module] = True
            except Exception:
                available[module] = False
        with open(out_path, "w") as f:
            json.dump({"python": sys.version.split()[0], "pydantic": pydantic_version, "modules": available,
                       "results": results}, f)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
