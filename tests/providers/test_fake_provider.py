"""The ``fake:`` provider is production code: it answers without the test kit."""

import subprocess
import sys


def test_fake_provider_does_not_import_the_test_kit() -> None:
    code = (
        "import sys\n"
        "from fusion_graph.config import ModelSpec\n"
        "from fusion_graph.providers import resolve_model\n"
        "model = resolve_model(ModelSpec(model='fake:hello'))\n"
        "assert model.invoke('hi').content == 'hello'\n"
        "assert type(model).__module__ == 'fusion_graph.providers.fake'\n"
        "assert not [m for m in sys.modules if m.startswith('fusion_graph.testing')], 'test kit imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_the_test_kit_exports_the_providers_fake() -> None:
    from fusion_graph.providers.fake import ScriptedChatModel
    from fusion_graph.testing import ScriptedChatModel as Exported

    assert Exported is ScriptedChatModel
