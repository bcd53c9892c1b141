"""RMI packets (fanuc/rmi_protocol.py): JSON lines, the reader of the stream, readable error codes."""
import pytest

from grasp_scorer_ros.fanuc import rmi_protocol as rmi
from grasp_scorer_ros.fanuc.rmi_client import RMIError
from grasp_scorer_ros.fanuc.rmi_protocol import Configuration, Position


def test_a_non_finite_number_never_goes_on_the_wire():
    packet = rmi.linear_motion_packet(7, Configuration(), Position(1, 2, 3, float("nan"), 0, 45), 100)
    with pytest.raises(ValueError, match="JSON"):
        rmi.encode_packet(packet)        # json.dumps would write "W":NaN, which is not JSON


def test_packets_are_json_lines_with_the_kind_first():
    data = rmi.encode_packet(rmi.set_override_packet(30))
    assert data == b'{"Command":"FRC_SetOverRide","Value":30}\r\n'
    packet = rmi.linear_motion_packet(7, Configuration(), Position(1, 2, 3, 180, 0, 45), 99.6)
    assert list(packet)[:2] == ["Instruction", "SequenceID"]
    assert packet["Speed"] == 100 and packet["SpeedType"] == "mmSec" and packet["TermType"] == "FINE"
    assert packet["Position"] == {"X": 1.0, "Y": 2.0, "Z": 3.0, "W": 180.0, "P": 0.0, "R": 45.0}
    with pytest.raises(ValueError):
        rmi.linear_motion_packet(1, Configuration(), Position(0, 0, 0, 0, 0, 0), 100, "CNT", 0)
    with pytest.raises(ValueError):
        rmi.linear_motion_packet(1, Configuration(), Position(0, 0, 0, 0, 0, 0), 0.2)


def test_reader_splits_the_stream_and_skips_garbage():
    reader = rmi.PacketReader()
    assert reader.feed(b'{"Command":"FRC_Ge') == []
    assert reader.feed(b'tStatus","ErrorID":0}\r\nnot json\r\n{"Instruction":"FRC_WaitTime",') == [
        {"Command": "FRC_GetStatus", "ErrorID": 0}]
    assert reader.malformed_count == 1
    assert reader.feed(b'"SequenceID":3}\r\n') == [{"Instruction": "FRC_WaitTime", "SequenceID": 3}]


def test_error_codes_are_readable():
    assert rmi.rmit(36) == 2556964
    assert rmi.describe_error(2556964).startswith("RMIT-036 Invalid destination position (2556964)")
    assert "teach pendant" in rmi.describe_error(2556936).lower()
    assert rmi.error_code_name(7015) == "MEMO-015"
    assert "unknown" in rmi.describe_error(123)
    error = RMIError(2556956, "FRC_LinearMotion 9")
    assert error.error_id == 2556956 and "RMIT-028" in str(error) and "FRC_LinearMotion 9" in str(error)
