// Package openloop is the Go client of openloop: the generated stubs of every service
// (under gen/) and Dial, which opens one connection with the API key and TLS settled.
//
//	c, err := openloop.Dial("127.0.0.1:50051", openloop.WithAPIKey(key), openloop.WithInsecure())
//	if err != nil { ... }
//	defer c.Close()
//	sets, err := c.Feature.ListFeatureSets(ctx, &featurev1.ListFeatureSetsRequest{})
package openloop

import (
	"context"
	"crypto/tls"
	"errors"

	featurev1 "github.com/openloop/openloop/clients/go/gen/openloop/feature/v1"
	feedbackv1 "github.com/openloop/openloop/clients/go/gen/openloop/feedback/v1"
	llmv1 "github.com/openloop/openloop/clients/go/gen/openloop/llm/v1"
	pipelinev1 "github.com/openloop/openloop/clients/go/gen/openloop/pipeline/v1"
	registryv1 "github.com/openloop/openloop/clients/go/gen/openloop/registry/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthv1 "google.golang.org/grpc/health/grpc_health_v1"
)

// Client holds one connection and a stub for each service on it.
type Client struct {
	Conn     *grpc.ClientConn
	LLM      llmv1.LLMServiceClient
	Pipeline pipelinev1.PipelineServiceClient
	Registry registryv1.RegistryServiceClient
	Feature  featurev1.FeatureServiceClient
	Feedback feedbackv1.FeedbackServiceClient
	Health   healthv1.HealthClient
}

// Close closes the connection.
func (c *Client) Close() error { return c.Conn.Close() }

type options struct {
	apiKey      string
	tls         *tls.Config
	insecure    bool
	dialOptions []grpc.DialOption
}

// Option configures Dial.
type Option func(*options)

// WithAPIKey sends `authorization: Bearer <key>` on every call (the header the server checks).
func WithAPIKey(key string) Option { return func(o *options) { o.apiKey = key } }

// WithTLS sets the TLS configuration; without it (and without WithInsecure) Dial uses TLS
// with the system's roots.
func WithTLS(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// WithInsecure connects in cleartext (h2c), as to a server on 127.0.0.1 without TLS.
// The API key is then sent in cleartext too.
func WithInsecure() Option { return func(o *options) { o.insecure = true } }

// WithDialOptions passes further options to grpc.NewClient (interceptors, keepalive...).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.dialOptions = append(o.dialOptions, opts...) }
}

// Dial opens a client to the server at target ("host:port", or any gRPC target such as
// "dns:///openloop.example:443"). Like grpc.NewClient it connects lazily, on the first call.
func Dial(target string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.insecure && o.tls != nil {
		return nil, errors.New("openloop: WithInsecure and WithTLS exclude each other")
	}
	transport := insecure.NewCredentials()
	if !o.insecure {
		cfg := o.tls
		if cfg == nil {
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		transport = credentials.NewTLS(cfg)
	}
	dial := []grpc.DialOption{grpc.WithTransportCredentials(transport)}
	if o.apiKey != "" {
		dial = append(dial, grpc.WithPerRPCCredentials(apiKey{key: o.apiKey, secure: !o.insecure}))
	}
	conn, err := grpc.NewClient(target, append(dial, o.dialOptions...)...)
	if err != nil {
		return nil, err
	}
	return &Client{
		Conn:     conn,
		LLM:      llmv1.NewLLMServiceClient(conn),
		Pipeline: pipelinev1.NewPipelineServiceClient(conn),
		Registry: registryv1.NewRegistryServiceClient(conn),
		Feature:  featurev1.NewFeatureServiceClient(conn),
		Feedback: feedbackv1.NewFeedbackServiceClient(conn),
		Health:   healthv1.NewHealthClient(conn),
	}, nil
}

// apiKey is the per-RPC credential carrying the key.
type apiKey struct {
	key    string
	secure bool
}

func (k apiKey) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + k.key}, nil
}

// RequireTransportSecurity is false only when the caller chose cleartext with WithInsecure.
func (k apiKey) RequireTransportSecurity() bool { return k.secure }
