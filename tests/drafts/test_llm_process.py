"""The drafts' language model runs in a child process: OpenVINO loaded after GStreamer cannot take the box down.

Measured in the demo box: loading the GenAI pipeline in the box's own process, after GStreamer had
decoded H.264, aborted the whole process about one run in two (std::terminate, "Device with "CPU"
name is not registered"), live captions included.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.timeout(300)]

# A fresh process in the order `edge run --demo` meets them: H.264 decoding, then the drafts' model.
SCRIPT = """
import numpy, zmq  # noqa: F401,E401  (the box has both loaded by then)
import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst
Gst.init(None)
p = Gst.parse_launch("videotestsrc num-buffers=30 ! x264enc ! avdec_h264 ! fakesink")
p.set_state(Gst.State.PLAYING)
msg = p.get_bus().timed_pop_filtered(60 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
assert msg is not None and msg.type == Gst.MessageType.EOS, msg
p.set_state(Gst.State.NULL)
from edge.drafts.model import load_llm
from edge.profiles import load_profile
llm = load_profile("x86-cpu").llm.model_copy(update={"threads": 1})
model, error, _info = load_llm(llm)
assert model is not None, error
text = model.generate([{"role": "user", "content": "Say hello."}], max_new_tokens=4)
assert "openvino" not in sys.modules, "the box's own process loaded OpenVINO"
print("drafts model answered:", text)
"""


def test_the_drafts_model_answers_after_h264_decoding_without_openvino_in_the_box_process():
    proc = subprocess.run([sys.executable, "-c", "import sys\n" + SCRIPT], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "drafts model answered:" in proc.stdout
