"""encoder node: camera image -> rigbot.perception.preprocessing.preprocess -> VAE encoder mean -> latent.

in:  /camera/camera/color/image_raw (sensor QoS, queue of one: frames it cannot keep up with are dropped)
out: /rigbot/latent (a 1 x latent_dim 32FC1 Image, see conversions; stamped with the camera image's stamp)
     /rigbot/encoder/model_input (rgb8, the exact bytes the encoder was fed; only with publish_model_input)

The preprocessing is the checkpoint's own (its PreprocessConfig), so the node feeds the encoder the same bytes
training did. Frames older than ``max_age`` on arrival are dropped, never encoded.
"""
from __future__ import annotations

from rclpy.node import Node
from sensor_msgs.msg import Image

from rigbot.perception.preprocessing import BadImageError, preprocess
from rigbot_ros import conversions as conv
from rigbot_ros import topics
from rigbot_ros.node_runtime import declare, load_encoder, one_torch_thread, run


def with_roi_from(deployment_file: str, pre):
    """The checkpoint's preprocessing with the region of interest calibrated for this camera (the deployment
    loaded and checked as every reader checks it: its ROI inside its camera's image, its bounds the robot's)."""
    from dataclasses import replace

    from rigbot.calibration.deployment import load_deployment

    return replace(pre, roi=load_deployment(deployment_file).roi)


class EncoderNode(Node):
    def __init__(self, name: str = "encoder", encoder=None, **kwargs):
        super().__init__(name, **kwargs)
        checkpoint = declare(self, "checkpoint", "checkpoints/reach", "policy checkpoint folder (its vae/ is "
                             "used) or a VAE checkpoint folder")
        self.max_age = declare(self, "max_age", 0.5, "drop frames older than this on arrival, s (0: keep all)",
                               (0.0, 60.0))
        self.publish_model_input = declare(self, "publish_model_input", False, "also publish the preprocessed "
                                           "image the encoder is fed, on /rigbot/encoder/model_input")
        deployment = declare(self, "deployment_file", "", "calibration deployment YAML whose 'roi' (x, y, width, "
                             "height in raw camera pixels) replaces the checkpoint's; empty: the checkpoint's")
        one_torch_thread()
        self.encoder = encoder if encoder is not None else load_encoder(checkpoint)
        self.pre = self.encoder.preprocess
        if deployment:
            self.pre = with_roi_from(deployment, self.pre)
        import numpy as np
        self.encoder.encode(np.zeros((1, self.pre.size, self.pre.size, 3), np.uint8))  # warm up: the first call is slow
        self.latent_pub = self.create_publisher(Image, topics.LATENT, topics.SENSOR)
        self.input_pub = self.create_publisher(Image, topics.MODEL_INPUT, topics.SENSOR)
        self.create_subscription(Image, topics.IMAGE, self.on_image, topics.SENSOR)
        self.encoded = self.dropped = 0
        self.get_logger().info(f"encoder: latent {self.encoder.latent_dim}, input {self.pre.size} px "
                               f"(roi {self.pre.roi or 'centred square'}, {self.pre.color_order})")

    def on_image(self, msg: Image) -> None:
        if self.max_age > 0:
            age = (self.get_clock().now().nanoseconds * 1e-9) - conv.to_seconds(msg.header.stamp)
            if age > self.max_age:
                self.dropped += 1
                self.get_logger().warning(f"dropped a frame {age * 1000:.0f} ms old (more than {self.max_age * 1000:.0f}"
                                          " ms): the camera clock is off or this node is too slow",
                                          throttle_duration_sec=2.0)
                return
        try:
            model_input = preprocess(conv.image_to_rgb(msg), self.pre)
        except (conv.BadMessageError, BadImageError) as e:
            self.get_logger().error(f"refused a camera image on {topics.IMAGE}: {e}", throttle_duration_sec=1.0)
            return
        z = self.encoder.encode(model_input)[0]
        self.latent_pub.publish(conv.latent_to_image(z, msg.header.stamp, msg.header.frame_id))
        if self.publish_model_input:
            self.input_pub.publish(conv.rgb_to_image(model_input, msg.header.stamp, msg.header.frame_id))
        self.encoded += 1


def main(args=None) -> int:
    return run(EncoderNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
