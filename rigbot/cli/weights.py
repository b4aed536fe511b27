"""``rigbot weights``: make a weight store from a trained policy, list its versions, roll back, check one."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("weights", help="versioned policy weights for learning on the robot (init, list, rollback)",
                       description="A weight store holds numbered, complete versions of a policy; the learner node "
                                   "publishes new ones and the policy node swaps to them live. See the README, "
                                   "'Learning on your robot'.")
    w = p.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    s = w.add_parser("init", help="make a store whose version 1 is a trained policy",
                     description="Make a weight store from a policy folder (rigbot train's output). Run the nodes "
                                 "with checkpoint:=STORE afterwards.")
    s.add_argument("store", help="the store folder to make, e.g. checkpoints/live")
    s.add_argument("--from", dest="source", required=True, metavar="CHECKPOINT", help="trained policy folder")
    s.set_defaults(func=cmd_init)
    s = w.add_parser("list", help="the versions, which is current, and what each was trained on",
                     description="List the versions of a store.")
    s.add_argument("store")
    s.set_defaults(func=cmd_list)
    s = w.add_parser("rollback", help="make the version current before this one current again",
                     description="Move the store's current pointer back one version (a node restarted on the store "
                                 "then runs it). A running policy node rolls back with its ~/rollback_weights "
                                 "service instead.")
    s.add_argument("store")
    s.set_defaults(func=cmd_rollback)
    s = w.add_parser("check", help="verify a version (hashes, config, weights) without running it",
                     description="Load a version as the policy node would and say whether it would be accepted: "
                                 "every file against its published SHA-256, policy.yaml's fields against their "
                                 "ranges, the store and the weights, and the weights for NaN or Inf.")
    s.add_argument("store")
    s.add_argument("version", type=int, nargs="?", help="default: the current one")
    s.set_defaults(func=cmd_check)


def cmd_init(args) -> int:
    from rigbot.policy.weights.weight_store import WeightStore

    store = WeightStore.create(args.store, args.source)
    print(f"weight store {store.root}: version {store.current()} current ({len(store.versions())} version(s))")
    return 0


def cmd_list(args) -> int:
    from rigbot.policy.weights.weight_store import WeightStore, WeightStoreError

    store = WeightStore(args.store)
    current = store.current()
    print(f"{store.root}: {len(store.versions())} version(s), current {current}")
    for v in store.versions():
        try:
            info = store.info(v)
        except WeightStoreError as e:  # one damaged version.yaml: say so, and list the others
            print(f"{'*' if v == current else ' '} {v:4d}  damaged: {e}")
            continue
        trained = f"{info['updates']} updates on {info['transitions']} transitions" if "updates" in info else \
            info.get("source", "")
        print(f"{'*' if v == current else ' '} {v:4d}  {info.get('created', '')}  parent {info.get('parent')}  {trained}")
    return 0


def cmd_rollback(args) -> int:
    from rigbot.policy.weights.weight_store import WeightStore

    store = WeightStore(args.store)
    before = store.current()
    after = store.rollback()
    print(f"{store.root}: current version {before} -> {after}")
    return 0


def cmd_check(args) -> int:
    from rigbot.policy.weights.weight_store import WeightStore

    store = WeightStore(args.store)
    version = store.current() if args.version is None else args.version
    policy = store.load(version)
    print(f"version {version} of {store.root} is sound: {policy.task} policy, {policy.meta.get('learner', 'td3')}, "
          f"{policy.agent.obs_dim}-d latents")
    return 0
