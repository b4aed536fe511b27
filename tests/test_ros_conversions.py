"""Message <-> numpy conversions (no cv_bridge): every supported encoding, padded rows, and refusals."""
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("rclpy")

from sensor_msgs.msg import Image  # noqa: E402

from rigbot_ros import conversions as conv  # noqa: E402

RGB = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)


def message(encoding: str, pixels: np.ndarray, pad: int = 0) -> Image:
    h, w = pixels.shape[:2]
    rows = pixels.reshape(h, -1)
    rows = np.hstack([rows, np.full((h, pad), 99, np.uint8)])  # rows padded beyond the pixels, as drivers may
    msg = Image(height=h, width=w, encoding=encoding, step=rows.shape[1])
    msg.data = rows.tobytes()
    return msg


@pytest.mark.parametrize("pad", [0, 3])
def test_colour_encodings_decode_to_the_same_rgb(pad):
    alpha = np.full((5, 7, 1), 255, np.uint8)
    cases = {"rgb8": RGB, "bgr8": RGB[..., ::-1], "rgba8": np.concatenate([RGB, alpha], 2),
             "bgra8": np.concatenate([RGB[..., ::-1], alpha], 2)}
    for encoding, pixels in cases.items():
        np.testing.assert_array_equal(conv.image_to_rgb(message(encoding, np.ascontiguousarray(pixels), pad)), RGB)
    mono = RGB[..., 0]
    np.testing.assert_array_equal(conv.image_to_rgb(message("mono8", np.ascontiguousarray(mono), pad)),
                                  np.repeat(mono[..., None], 3, 2))


def test_round_trip_and_stamps():
    msg = conv.rgb_to_image(RGB, 12.25, "cam")
    assert (msg.height, msg.width, msg.step, msg.encoding) == (5, 7, 21, "rgb8")
    assert conv.to_seconds(msg.header.stamp) == 12.25 and msg.header.frame_id == "cam"
    np.testing.assert_array_equal(conv.image_to_rgb(msg), RGB)
    z = np.array([0.5, -1.25, 3.0], np.float32)
    lat = conv.latent_to_image(z, msg.header.stamp, "cam")
    assert lat.header.stamp == msg.header.stamp
    np.testing.assert_array_equal(conv.image_to_latent(lat, 3), z)


@pytest.mark.parametrize("change, reason", [
    (dict(encoding="16UC1"), "not an 8-bit colour encoding"),
    (dict(height=0, width=0), "empty"),
    (dict(width=8), "step 21 is less than"),
    (dict(data=bytes(20)), "has 20 bytes"),
    (dict(height=9000, width=9000, step=27000), "9000 x 9000 pixels, more than rigbot reads"),
])
def test_malformed_images_are_refused_with_the_reason(change, reason):
    msg = conv.rgb_to_image(RGB, 0.0, "cam")
    for k, v in change.items():
        setattr(msg, k, v)
    with pytest.raises(conv.BadMessageError, match=reason):
        conv.image_to_rgb(msg)


def test_images_declaring_more_pixels_than_the_bound_are_refused_before_decoding():
    """8000 x 8000 is within the side bound but 64 megapixels: more than any camera rigbot reads (40 MP). The
    bounds are rigbot.media's, as for image files; and recorded image messages are decoded by the same code."""
    from rigbot.recording import image_messages

    msg = Image(height=8000, width=8000, encoding="mono8", step=8000)
    msg.data = bytes(8000 * 8000)
    with pytest.raises(conv.BadMessageError, match="8000 x 8000 pixels, more than rigbot reads .* 40 megapixels"):
        conv.image_to_rgb(msg)
    recorded = SimpleNamespace(height=8000, width=8000, encoding="mono8", step=8000, data=bytes(8000 * 8000))
    with pytest.raises(image_messages.BadImageMessage, match="8000 x 8000 pixels, more than rigbot reads"):
        image_messages.image_to_rgb(recorded)  # as decoded from a recording (bytes, not rclpy's array)


def test_refusals_quote_a_long_encoding_briefly():
    msg = conv.rgb_to_image(RGB, 0.0, "cam")
    msg.encoding = "x" * 100_000
    with pytest.raises(conv.BadMessageError, match="not an 8-bit colour encoding") as e:
        conv.image_to_rgb(msg)
    assert len(str(e.value)) < 300


def test_latents_are_checked():
    lat = conv.latent_to_image(np.zeros(4), 0.0, "cam")
    with pytest.raises(conv.BadMessageError, match="expected 8"):
        conv.image_to_latent(lat, 8)
    bad = conv.latent_to_image(np.array([np.nan, 0, 0, 0]), 0.0, "cam")
    with pytest.raises(conv.BadMessageError, match="not finite"):
        conv.image_to_latent(bad)
    with pytest.raises(conv.BadMessageError, match="1-row"):
        conv.image_to_latent(conv.rgb_to_image(RGB, 0.0, "cam"))


def test_nodes_take_roi_and_camera_info_from_the_deployment_file(tmp_path):
    from rigbot.calibration.camera_info import CameraIntrinsics, save_camera_info
    from rigbot.calibration.deployment import DeploymentConfig, save_deployment
    from rigbot.config import ConfigError
    from rigbot.perception.preprocessing import PreprocessConfig
    from rigbot_ros.camera_node import intrinsics_from
    from rigbot_ros.encoder_node import with_roi_from

    # the roi is checked against the calibrated image, so the camera_info file must be there
    save_camera_info(CameraIntrinsics(640, 480, np.array([[600.0, 0, 320.0], [0, 600.0, 240.0], [0, 0, 1]])),
                     tmp_path / "camera_info.yaml")
    path = save_deployment(DeploymentConfig(roi=(10, 0, 400, 400), camera_info="camera_info.yaml"),
                           tmp_path / "deployment.yaml")
    pre = with_roi_from(str(path), PreprocessConfig(size=48, color_order="bgr"))
    assert pre.roi == (10, 0, 400, 400) and pre.size == 48 and pre.color_order == "bgr"
    cam = intrinsics_from("", str(path))
    assert (cam.width, cam.height) == (640, 480) and cam.K[0, 0] == 600.0
    assert intrinsics_from("", "") is None
    # the nodes load the deployment as every reader does: an roi outside the calibrated image is refused
    (tmp_path / "outside.yaml").write_text("camera_info: camera_info.yaml\nroi: [0, 0, 100000, 100000]\n")
    for read in (lambda f: with_roi_from(f, PreprocessConfig()), lambda f: intrinsics_from("", f)):
        with pytest.raises(ConfigError, match="outside.yaml.*roi"):
            read(str(tmp_path / "outside.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("roi: [1, 2, 3]\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        with_roi_from(str(bad), PreprocessConfig())
