"""Builds a Feast repo that mirrors openloop's feature bench: 10,000 entities x 12 features,
Redis online store. Usage: python setup_repo.py REPO_DIR REDIS_HOST:PORT ENTITIES"""
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd

repo, redis_addr, entities = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
repo.mkdir(parents=True, exist_ok=True)
(repo / "feature_store.yaml").write_text(
    f"""project: bench
registry: {repo / 'registry.db'}
provider: local
online_store:
  type: redis
  connection_string: "{redis_addr}"
offline_store:
  type: file
entity_key_serialization_version: 3
"""
)
(repo / "features.py").write_text(
    f"""from datetime import timedelta
from feast import Entity, FeatureView, Field, FileSource, ValueType
from feast.types import Array, Bool, Float64, Int64, String

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)
source = FileSource(path="{repo / 'data.parquet'}", timestamp_field="ts")
bench = FeatureView(
    name="bench",
    entities=[user],
    ttl=timedelta(days=3650),
    schema=[Field(name=f"d{{i}}", dtype=Float64) for i in range(6)]
    + [
        Field(name="i0", dtype=Int64),
        Field(name="i1", dtype=Int64),
        Field(name="country", dtype=String),
        Field(name="active", dtype=Bool),
        Field(name="embedding", dtype=Array(Float64)),
        Field(name="tags", dtype=Array(String)),
    ],
    online=True,
    source=source,
)
"""
)
rng = np.random.default_rng(1)
now = datetime.now(timezone.utc)
df = pd.DataFrame(
    {
        "user_id": [f"user-{i}" for i in range(entities)],
        **{f"d{d}": rng.random(entities) * 100 for d in range(6)},
        "i0": np.arange(entities, dtype=np.int64),
        "i1": np.full(entities, 42, dtype=np.int64),
        "country": ["fr"] * entities,
        "active": [True] * entities,
        "embedding": [list(rng.random(16)) for _ in range(entities)],
        "tags": [["a", "bb", "ccc"]] * entities,
        "ts": [now - timedelta(minutes=1)] * entities,
    }
)
df.to_parquet(repo / "data.parquet")

import subprocess  # noqa: E402

from feast import FeatureStore  # noqa: E402

subprocess.run([str(Path(sys.executable).parent / "feast"), "apply"], cwd=repo, check=True, stdout=subprocess.DEVNULL)
store = FeatureStore(repo_path=str(repo))
store.write_to_online_store("bench", df.drop(columns=[]))
got = store.get_online_features(features=["bench:d0", "bench:tags"], entity_rows=[{"user_id": "user-1"}]).to_dict()
assert got["tags"] == [["a", "bb", "ccc"]], got
print("ok")
