"""Calibration: camera intrinsics, hand-eye, workspace and speed limits, twin camera alignment. No ROS here.

- ``boards``, ``board_detection``, ``board_pose``: the calibration target, finding it (or saying why not), its pose
- ``intrinsics``, ``camera_info``: Zhang's calibration; the ROS camera_info YAML
- ``hand_eye``, ``park_martin``: eye-to-hand calibration (camera pose in the robot base frame)
- ``workspace``, ``region_of_interest``, ``deployment``: the box, speeds and image region in one YAML file
- ``twin_alignment``, ``twin_board``: the twin's camera set from the calibration; boards rendered in the twin
- ``capture``, ``pose_files``: taking images, reading recorded poses (``rigbot calibrate`` is ``rigbot.cli.calibrate``)
"""
