"""Recordings of robot runs in a ROS 2 format (MCAP, as rosbag2 writes it), and datasets made from them. No ROS.

The API other parts use (the recorder node, the learner, and ``rigbot record``/``rigbot dataset`` in ``rigbot.cli.record``):

- ``McapFolderWriter(folder, RecordingConfig(...))`` with ``add_topic``, ``write(topic, cdr_bytes, log_time_ns,
  publish_time_ns)``, ``tick``, ``close``: rolling MCAP files + rosbag2 ``metadata.yaml``
  (``mcap_folder_writer``).
- ``CheckedRecording(writer, max_age)``: the recorder node's checks of each message before it is written, and its
  counts of what was written and refused, per topic and kind of problem (``checked_recording``).
- ``read_recording(folder_or_file, topics=None)``: ``RecordedMessage``s (``.decode()`` gives the ROS fields),
  recovering the complete chunks of a file a crash cut short; ``scan`` reports per file (``mcap_reading``).
- ``recording_to_frames(recording, dataset_dir, ...)`` / ``frames_to_recording(dataset_dir, recording)``: to and
  from the frame-dataset training format of ``rigbot.perception.frame_dataset`` (``dataset_conversion``).
- ``summarize`` and ``contact_sheet`` (``summary``); message definitions and CDR without ROS
  (``msg_definitions``, ``cdr``).
"""
from rigbot.recording.mcap_folder_writer import McapFolderWriter, RecordingConfig, RecordingExistsError
from rigbot.recording.mcap_reading import (FileReport, RecordedMessage, RecordingError, read_recording,
                                           recording_files, scan)

__all__ = ["McapFolderWriter", "RecordingConfig", "RecordingExistsError", "FileReport", "RecordedMessage",
           "RecordingError", "read_recording", "recording_files", "scan"]
