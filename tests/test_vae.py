"""Preprocessing, the collected-frame format, the beta-VAE, its prior and its checkpoints."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml

from rigbot.config import ConfigError
from rigbot.perception.collect import collect
from rigbot.perception.frame_dataset import DatasetError, FrameWriter, load_frames
from rigbot.perception.latent_geometry import distance_rank_correlation
from rigbot.perception.latent_prior import LatentPrior
from rigbot.perception.preprocessing import BadImageError, PreprocessConfig, preprocess, to_model_input
from rigbot.perception.vae import TAG, ConvVAE, VAEConfig, load_checkpoint, save_checkpoint
from rigbot.perception.vae_training import evaluate, train_vae
from rigbot.weights import save_weights


@pytest.fixture(scope="module")
def reach_frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("reach_frames")
    collect("reach", 1200, folder, seed=0, progress=False, chunk_size=500)
    return load_frames(folder)


def test_preprocess_crops_resizes_and_orders_colours():
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[10:50, 20:60] = (255, 0, 0)  # a red square: the region of interest
    out = preprocess(frame, PreprocessConfig(size=16, roi=(20, 10, 40, 40)))
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert np.all(out == (255, 0, 0))
    bgr = preprocess(frame, PreprocessConfig(size=16, roi=(20, 10, 40, 40), color_order="bgr"))
    assert np.all(bgr == (0, 0, 255))
    centred = preprocess(frame, PreprocessConfig(size=24))  # centred 120 x 120 square of a 160 x 120 frame
    assert centred.shape == (24, 24, 3)
    x = to_model_input(out)
    assert x.shape == (1, 3, 16, 16) and x.dtype == np.float32 and x.max() == 1.0


@pytest.mark.parametrize("frame, message", [
    (np.zeros((48, 48, 3), np.float32), "uint8"),
    (np.zeros((48, 48), np.uint8), "H x W x 3"),
    (np.zeros((48, 48, 4), np.uint8), "H x W x 3"),
    (np.zeros((0, 48, 3), np.uint8), "too small"),
    ("not an image", "numpy image"),
])
def test_preprocess_refuses_bad_frames(frame, message):
    with pytest.raises(BadImageError, match=message):
        preprocess(frame, PreprocessConfig())


def test_roi_outside_the_frame_is_refused():
    with pytest.raises(BadImageError, match=r"does not fit a 64 x 48 frame"):
        preprocess(np.zeros((48, 64, 3), np.uint8), PreprocessConfig(roi=(40, 0, 40, 40)))


def test_collected_frames_match_the_twin(reach_frames):
    assert reach_frames["images"].shape == (1200, 48, 48, 3)
    assert reach_frames["episodes"].max() == 1200 // 11  # 11 frames per episode: reset + 10 random steps
    hand = reach_frames["observations"][:, :2]
    assert hand[:, 0].std() > 0.05 and hand[:, 1].std() > 0.05, "random starts must cover the workspace"


def test_dataset_appends_and_refuses_mismatches(tmp_path):
    img = np.zeros((48, 48, 3), np.uint8)
    with FrameWriter(tmp_path, {"task": "reach", "image_size": 48}, chunk_size=3) as w:
        for i in range(5):
            w.add(img, np.zeros(7), np.zeros(2), 0, i)
    with FrameWriter(tmp_path, {"task": "reach", "image_size": 48}, chunk_size=3) as w:
        assert w.next_episode == 1
        w.add(img, np.zeros(7), np.zeros(2), w.next_episode, 0)
    data = load_frames(tmp_path)
    assert len(data["images"]) == 6 and list(data["episodes"]) == [0] * 5 + [1]
    with pytest.raises(DatasetError, match="image_size is 48; cannot append frames with image_size 84"):
        FrameWriter(tmp_path, {"task": "reach", "image_size": 84})
    (tmp_path / "chunk_000009.npz").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="chunk_000009.npz: unreadable chunk"):
        load_frames(tmp_path)


def test_a_killed_collector_leaves_only_whole_chunks(tmp_path):
    code = ("from rigbot.perception.collect import collect; "
            f"collect('reach', 100000, {str(tmp_path)!r}, chunk_size=100, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
    try:
        deadline = time.time() + 60
        while len(list(tmp_path.glob("chunk_*.npz"))) < 3 and time.time() < deadline:
            time.sleep(0.05)
        assert len(list(tmp_path.glob("chunk_*.npz"))) >= 3, "the collector wrote no chunks"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    data = load_frames(tmp_path)
    assert len(data["images"]) % 100 == 0 and len(data["images"]) >= 300
    # and the dataset takes more frames after the crash
    collect("reach", 50, tmp_path, progress=False)
    assert len(load_frames(tmp_path)["images"]) == len(data["images"]) + 50


@pytest.mark.parametrize("size", [48, 84])
def test_vae_shapes(size):
    vae = ConvVAE(VAEConfig(image_size=size, latent_dim=8))
    recon, mean, logvar = vae(torch.rand(2, 3, size, size))
    assert recon.shape == (2, 3, size, size) and mean.shape == (2, 8) and logvar.shape == (2, 8)


def test_vae_learns_to_reconstruct_held_out_twin_images(reach_frames, tmp_path):
    images = reach_frames["images"]
    # The bounds come from the measured spread (held-out MSE / the mean image's MSE, and the rank correlation),
    # over training seeds 0-2 and two datasets (collection seeds 0, 1), with opencv 5.1 / mujoco 4.0.1 / numpy
    # 2.4 and with opencv 5.0 / mujoco 4.0.0 / numpy 2.3 (identical figures):
    # - batch 32 (about 600 updates), as this test once used: MSE ratio 0.67 to 1.00, rho 0.42 to 0.88; a seed may
    #   still sit on the plateau where the decoder draws only the average scene (ratio 1), so no bound holds.
    # - batch 16 (about 1,100 updates, the same images seen): MSE ratio 0.37 to 0.41, rho 0.80 to 0.93.
    # So: ratio < 0.55 (a margin of a third over the worst seed; a VAE on the plateau scores ~1.0) and rho > 0.6
    # (the transposed-convolution decoder, which orders distances poorly, measured 0.39 here).
    history = train_vae(images[:1000], tmp_path, VAEConfig(beta=0.5), epochs=20, batch_size=16, progress=False)
    held_out = images[1000:]
    mean_image = images[:1000].astype(np.float64).mean(0) / 255
    baseline = float(((held_out / 255 - mean_image) ** 2).mean())  # predicting the average image
    encoder = load_checkpoint(tmp_path)
    mse = evaluate(encoder.vae, held_out)
    assert mse < 0.55 * baseline, (mse, baseline)
    assert history["val_mse"][-1] < history["val_mse"][0]
    assert (tmp_path / "vae_grid.png").is_file()
    # RIG's reward is latent distance: it must order held-out scenes as the hand's distance does.
    rho = distance_rank_correlation(encoder.encode(held_out), reach_frames["observations"][1000:, :3])
    assert rho > 0.6, rho


def test_latent_rank_correlation_is_one_for_a_faithful_embedding_and_near_zero_for_noise():
    rng = np.random.default_rng(0)
    hands = rng.uniform(-0.2, 0.2, (300, 3))
    rotation = np.linalg.qr(rng.normal(size=(16, 16)))[0][:, :3]
    assert distance_rank_correlation(hands @ rotation.T * 7.0, hands) > 0.999
    assert abs(distance_rank_correlation(rng.normal(size=(300, 16)), hands)) < 0.1
    with pytest.raises(ValueError, match="as many positions as latents"):
        distance_rank_correlation(hands[:10], hands)


def test_checkpoints_from_before_the_decoder_choice_load_as_transposed_convolutions(tmp_path):
    vae = ConvVAE(VAEConfig(decoder="deconv", latent_dim=4))
    prior = LatentPrior(np.zeros(4), np.eye(4))
    save_checkpoint(tmp_path, vae, prior, PreprocessConfig())
    cfg = yaml.safe_load((tmp_path / "vae.yaml").read_text())
    del cfg["vae"]["decoder"]  # exactly what such a checkpoint holds: no key, in the YAML and in the weights
    (tmp_path / "vae.yaml").write_text(yaml.safe_dump(cfg))
    tensors = {**vae.state_dict(), "prior.mean": torch.zeros(4, dtype=torch.float64),
               "prior.cov": torch.eye(4, dtype=torch.float64)}
    save_weights(tmp_path / "vae.safetensors", tensors, cfg["vae"], TAG)
    enc = load_checkpoint(tmp_path)
    assert enc.vae.cfg.decoder == "deconv"
    z = torch.randn(2, 4)
    assert torch.equal(enc.vae.decode(z), vae.eval().decode(z))
    cfg["vae"]["decoder"] = "broadcast"  # now the YAML disagrees with the weights: refused
    (tmp_path / "vae.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match="was saved with config"):
        load_checkpoint(tmp_path)


def test_checkpoint_round_trip_and_refusals(reach_frames, tmp_path):
    with pytest.warns(UserWarning, match="not learned the arm"):  # one epoch: only the empty table
        train_vae(reach_frames["images"][:200], tmp_path, VAEConfig(latent_dim=6), epochs=1, progress=False)
    enc = load_checkpoint(tmp_path)
    z = enc.encode(reach_frames["images"][:4])
    assert z.shape == (4, 6) and np.array_equal(z, load_checkpoint(tmp_path).encode(reach_frames["images"][:4]))
    assert enc.decode(z).shape == (4, 48, 48, 3)
    cfg_path = tmp_path / "vae.yaml"
    good = cfg_path.read_text()
    cfg = yaml.safe_load(good)
    cfg["vae"]["latent_dim"] = 8
    cfg_path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match="was saved with config .* they must match"):
        load_checkpoint(tmp_path)
    cfg["vae"]["latent_dim"] = 2
    cfg_path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(ConfigError, match=r"vae.yaml: vae.latent_dim: 2 is out of range"):
        load_checkpoint(tmp_path)
    cfg_path.write_text(good)
    weights = tmp_path / "vae.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        load_checkpoint(tmp_path)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="vae.safetensors: missing"):
        load_checkpoint(tmp_path)


def test_encoder_refuses_wrong_image_size(reach_frames, tmp_path):
    with pytest.warns(UserWarning, match="not learned the arm"):  # one epoch: only the empty table
        train_vae(reach_frames["images"][:100], tmp_path, VAEConfig(), epochs=1, progress=False)
    with pytest.raises(ValueError, match="takes 48 x 48 images, got 64 x 64"):
        load_checkpoint(tmp_path).encode(np.zeros((64, 64, 3), np.uint8))


def test_latent_prior_fits_a_full_covariance():
    rng = np.random.default_rng(0)
    cov = np.array([[1.0, 0.8], [0.8, 2.0]])
    data = rng.multivariate_normal([1.0, -2.0], cov, size=20000)
    prior = LatentPrior.fit(data)
    np.testing.assert_allclose(prior.mean, [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(prior.cov, cov, atol=0.08)
    samples = prior.sample(20000, rng)
    assert samples.shape == (20000, 2) and samples.dtype == np.float32
    np.testing.assert_allclose(np.cov(samples, rowvar=False), cov, atol=0.08)
