import pytest

from edge.registry import Registry


@pytest.fixture(scope="session")
def embedder():
    """The box's embedder as the x86-cpu profile runs it (int8 ONNX on ONNX Runtime), provisioned for real."""
    from edge.tagging.embeddings import Embedder

    registry = Registry()
    registry.provision(registry.manifest("minilm-l6-v2"))
    return Embedder.load(registry=registry)
