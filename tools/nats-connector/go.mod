module github.com/openfaas/nats-connector

go 1.18

require (
	github.com/nats-io/nats.go v1.16.0
	github.com/openfaas/connector-sdk v0.6.7
)

require (
	github.com/nats-io/nats-server/v2 v2.8.4 // indirect
	github.com/nats-io/nkeys v0.3.0 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/openfaas/faas-provider v0.19.0 // indirect
	golang.org/x/crypto v0.0.0-20220315160706-3147a52a75dd // indirect
	google.golang.org/protobuf v1.28.1 // indirect
)
