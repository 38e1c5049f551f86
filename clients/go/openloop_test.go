package openloop_test

// Runs against real servers, which test/clients/go.test.ts starts: OPENLOOP_TEST_TARGET
// (host:port, cleartext), OPENLOOP_TEST_TLS_TARGET (the same over TLS, whose certificate is
// the PEM file OPENLOOP_TEST_TLS_CA) and OPENLOOP_TEST_API_KEY, accepted by both.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"testing"
	"time"

	openloop "github.com/openloop/openloop/clients/go"
	featurev1 "github.com/openloop/openloop/clients/go/gen/openloop/feature/v1"
	llmv1 "github.com/openloop/openloop/clients/go/gen/openloop/llm/v1"
	pipelinev1 "github.com/openloop/openloop/clients/go/gen/openloop/pipeline/v1"
	registryv1 "github.com/openloop/openloop/clients/go/gen/openloop/registry/v1"
	"google.golang.org/grpc/codes"
	healthv1 "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func server(t *testing.T) (target, key string) {
	target, key = os.Getenv("OPENLOOP_TEST_TARGET"), os.Getenv("OPENLOOP_TEST_API_KEY")
	if target == "" || key == "" {
		t.Skip("OPENLOOP_TEST_TARGET and OPENLOOP_TEST_API_KEY are unset: run through test/clients/go.test.ts")
	}
	return target, key
}

func dial(t *testing.T, opts ...openloop.Option) *openloop.Client {
	target, _ := server(t)
	c, err := openloop.Dial(target, append([]openloop.Option{openloop.WithInsecure()}, opts...)...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestFeatureSetRoundTrip(t *testing.T) {
	_, key := server(t)
	c := dial(t, openloop.WithAPIKey(key))
	name := fmt.Sprintf("go_client_%d", time.Now().UnixNano())
	_, err := c.Feature.CreateFeatureSet(ctx(t), &featurev1.CreateFeatureSetRequest{FeatureSet: &featurev1.FeatureSet{
		Name:     name,
		Features: []*featurev1.FeatureDefinition{{Name: "age", Type: featurev1.FeatureType_FEATURE_TYPE_INT64}},
	}})
	if err != nil {
		t.Fatalf("CreateFeatureSet: %v", err)
	}
	_, err = c.Feature.PutFeatures(ctx(t), &featurev1.PutFeaturesRequest{
		FeatureSet: name, EntityKey: "user-1",
		Features: map[string]*featurev1.FeatureValue{"age": {Kind: &featurev1.FeatureValue_Int64Value{Int64Value: 42}}},
	})
	if err != nil {
		t.Fatalf("PutFeatures: %v", err)
	}
	got, err := c.Feature.GetFeatures(ctx(t), &featurev1.GetFeaturesRequest{FeatureSet: name, EntityKey: "user-1"})
	if err != nil {
		t.Fatalf("GetFeatures: %v", err)
	}
	if v := got.GetFeatures()["age"].GetInt64Value(); v != 42 {
		t.Fatalf("GetFeatures age = %d, want 42 (%v)", v, got)
	}
	list, err := c.Feature.ListFeatureSets(ctx(t), &featurev1.ListFeatureSetsRequest{PageSize: 1000})
	if err != nil {
		t.Fatalf("ListFeatureSets: %v", err)
	}
	found := false
	for _, s := range list.GetFeatureSets() {
		found = found || s.GetName() == name
	}
	if !found {
		t.Fatalf("ListFeatureSets does not list %s: %v", name, list)
	}
}

func TestOtherServices(t *testing.T) {
	_, key := server(t)
	c := dial(t, openloop.WithAPIKey(key))
	models, err := c.LLM.ListModels(ctx(t), &llmv1.ListModelsRequest{})
	if err != nil {
		t.Fatalf("LLMService.ListModels: %v", err)
	}
	if len(models.GetModels()) == 0 {
		t.Fatalf("LLMService.ListModels returned no models")
	}
	if _, err := c.Pipeline.ListPipelines(ctx(t), &pipelinev1.ListPipelinesRequest{}); err != nil {
		t.Fatalf("PipelineService.ListPipelines: %v", err)
	}
	_, err = c.Registry.GetModelVersion(ctx(t), &registryv1.GetModelVersionRequest{Name: "no-such-model"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("RegistryService.GetModelVersion of a missing model: %v, want NOT_FOUND", err)
	}
}

func TestHealthNeedsNoKey(t *testing.T) {
	c := dial(t)
	res, err := c.Health.Check(ctx(t), &healthv1.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Health.Check: %v", err)
	}
	if res.GetStatus() != healthv1.HealthCheckResponse_SERVING {
		t.Fatalf("Health.Check = %v, want SERVING", res.GetStatus())
	}
}

func TestWrongKeyIsUnauthenticated(t *testing.T) {
	c := dial(t, openloop.WithAPIKey("not-the-key"))
	_, err := c.Feature.ListFeatureSets(ctx(t), &featurev1.ListFeatureSetsRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ListFeatureSets with a wrong key: %v, want UNAUTHENTICATED", err)
	}
}

func TestTLSIsTheDefault(t *testing.T) {
	target, key := server(t)
	// The test server speaks cleartext, so a TLS handshake (Dial's default) cannot succeed.
	c, err := openloop.Dial(target, openloop.WithAPIKey(key))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	_, err = c.Feature.ListFeatureSets(ctx(t), &featurev1.ListFeatureSetsRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("ListFeatureSets over TLS to a cleartext server: %v, want UNAVAILABLE", err)
	}
}

func TestTLSWithAPIKey(t *testing.T) {
	_, key := server(t)
	target, caFile := os.Getenv("OPENLOOP_TEST_TLS_TARGET"), os.Getenv("OPENLOOP_TEST_TLS_CA")
	if target == "" || caFile == "" {
		t.Skip("OPENLOOP_TEST_TLS_TARGET and OPENLOOP_TEST_TLS_CA are unset: run through test/clients/go.test.ts")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", caFile)
	}
	c, err := openloop.Dial(target, openloop.WithAPIKey(key), openloop.WithTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close()
	if _, err := c.Feature.ListFeatureSets(ctx(t), &featurev1.ListFeatureSetsRequest{}); err != nil {
		t.Fatalf("ListFeatureSets over TLS: %v", err)
	}
	if _, err := openloop.Dial(target, openloop.WithInsecure(), openloop.WithTLS(&tls.Config{})); err == nil {
		t.Fatalf("Dial with both WithInsecure and WithTLS succeeded")
	}
}
