// featureclient: GetFeatures / BatchGetFeatures / Health.Check from one goroutine (concurrency 1)
// over one HTTP/2 connection, through the repository's Go client (clients/go: generated types,
// no reflection), timing every call itself. Prints one JSON object. Built and run by
// bench/feature.ts, which compares its numbers with ghz's and the Node clients'.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"time"

	openloop "github.com/openloop/openloop/clients/go"
	featurev1 "github.com/openloop/openloop/clients/go/gen/openloop/feature/v1"
	healthv1 "google.golang.org/grpc/health/grpc_health_v1"
)

type report struct {
	Count      int     `json:"count"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"firstError,omitempty"`
	Rps        float64 `json:"rps"`
	P50Ms      float64 `json:"p50Ms"`
	P90Ms      float64 `json:"p90Ms"`
	P99Ms      float64 `json:"p99Ms"`
	P999Ms     float64 `json:"p999Ms"`
	MaxMs      float64 `json:"maxMs"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "server host:port")
	method := flag.String("method", "get", "get, batch or health")
	set := flag.String("set", "bench", "feature set")
	entities := flag.Int("entities", 10000, "entity keys are <key-prefix>0 .. <key-prefix>(entities-1)")
	keyPrefix := flag.String("key-prefix", "user-", "entity key prefix")
	batch := flag.Int("batch", 100, "keys per BatchGetFeatures")
	seconds := flag.Float64("seconds", 4, "measured duration")
	warmup := flag.Float64("warmup", 0.5, "unmeasured warm-up")
	flag.Parse()

	c, err := openloop.Dial(*addr, openloop.WithInsecure())
	if err != nil {
		fail(err)
	}
	defer c.Close()
	keys := make([]string, *entities)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%d", *keyPrefix, i)
	}
	// The bench's key order: a stride through the entities, so calls do not repeat keys.
	pick := func(i int) string { return keys[(i*7919)%*entities] }
	batchKeys := make([]string, *batch)
	ctx := context.Background()
	call := func(i int) error {
		switch *method {
		case "get":
			r, err := c.Feature.GetFeatures(ctx, &featurev1.GetFeaturesRequest{FeatureSet: *set, EntityKey: pick(i)})
			if err == nil && len(r.Features) == 0 {
				err = fmt.Errorf("entity %s came back empty", pick(i))
			}
			return err
		case "batch":
			for j := range batchKeys {
				batchKeys[j] = pick(i**batch + j)
			}
			r, err := c.Feature.BatchGetFeatures(ctx, &featurev1.BatchGetFeaturesRequest{FeatureSet: *set, EntityKeys: batchKeys})
			if err == nil && len(r.Entities) != *batch {
				err = fmt.Errorf("%d entities for %d keys", len(r.Entities), *batch)
			}
			return err
		case "health":
			_, err := c.Health.Check(ctx, &healthv1.HealthCheckRequest{})
			return err
		}
		return fmt.Errorf("unknown method %q", *method)
	}

	var rep report
	i := 0
	for end := time.Now().Add(time.Duration(*warmup * float64(time.Second))); time.Now().Before(end); i++ {
		if err := call(i); err != nil {
			fail(err)
		}
	}
	lat := make([]time.Duration, 0, 1<<16)
	start := time.Now()
	end := start.Add(time.Duration(*seconds * float64(time.Second)))
	for ; ; i++ {
		t0 := time.Now()
		if !t0.Before(end) {
			break
		}
		if err := call(i); err != nil {
			rep.Errors++
			if rep.FirstError == "" {
				rep.FirstError = err.Error()
			}
			continue
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		k := int(p * float64(len(lat)))
		if k >= len(lat) {
			k = len(lat) - 1
		}
		return float64(lat[k]) / 1e6
	}
	rep.Count = len(lat)
	rep.Rps = float64(len(lat)) / elapsed.Seconds()
	rep.P50Ms, rep.P90Ms, rep.P99Ms, rep.P999Ms, rep.MaxMs = q(0.5), q(0.9), q(0.99), q(0.999), q(1)
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "featureclient:", err)
	os.Exit(1)
}
