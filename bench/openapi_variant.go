package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
)

// The api_openapi variants share one document, written beside the benchmark's
// Caddyfile: it describes the 1 KiB order the POST variants send and an item
// of an order, reached through two path parameters.
var (
	openapiPostVariant = variant{
		name:  "openapi_post",
		about: "`api_openapi` with `validate request`: a 1 KiB JSON POST validated against its schema",
		site: `route {
	api_openapi * {$BENCH_OPENAPI} {
		validate request
	}
	reverse_proxy {$BENCH_UPSTREAM}
}`,
		target:   0.90,
		baseline: "plain_post",
		setup:    jsonSetup,
		method:   http.MethodPost,
		path:     "/orders",
		body:     benchJSON1K,
		services: writeOpenAPIDocument,
	}
	openapiGetVariant = variant{
		name:  "openapi_get",
		about: "`api_openapi` with `validate request`: a GET with path parameters",
		site: `route {
	api_openapi * {$BENCH_OPENAPI} {
		validate request
	}
	reverse_proxy {$BENCH_UPSTREAM}
}`,
		target:   0.95,
		path:     "/orders/ord_1042/items/A-100",
		services: writeOpenAPIDocument,
	}
)

// writeOpenAPIDocument writes the variants' document into dir and tells Caddy
// where it is (BENCH_OPENAPI).
func writeOpenAPIDocument(_ context.Context, dir string) ([]string, func(), error) {
	file := filepath.Join(dir, "openapi.yaml")
	if err := os.WriteFile(file, []byte(benchOpenAPI), 0o600); err != nil {
		return nil, nil, err
	}
	return []string{"BENCH_OPENAPI=" + file}, func() {}, nil
}

const benchOpenAPI = `openapi: 3.1.0
info: {title: bench, version: "1"}
paths:
  /orders:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [order]
              properties:
                order:
                  type: object
                  required: [id, customer, items]
                  properties:
                    id: {type: string, pattern: "^ord_[0-9]+$"}
                    customer:
                      type: object
                      required: [name, email]
                      properties:
                        name: {type: string, maxLength: 200}
                        email: {type: string, format: email}
                        address:
                          type: object
                          properties:
                            street: {type: string}
                            city: {type: string}
                            zip: {type: string}
                    items:
                      type: array
                      minItems: 1
                      items:
                        type: object
                        required: [sku, qty, price]
                        properties:
                          sku: {type: string}
                          name: {type: string}
                          qty: {type: integer, minimum: 1}
                          price: {type: number, minimum: 0}
                    notes: {type: [string, "null"]}
                    gift: {type: boolean}
                    coupon: {type: [string, "null"]}
                    tags: {type: array, items: {type: string}}
                meta: {type: object}
                history:
                  type: array
                  items:
                    type: object
                    properties:
                      at: {type: string}
                      status: {type: string, enum: [created, paid, shipped]}
                comment: {type: string}
                pad: {type: string}
      responses:
        "200": {description: ok}
  /orders/{orderId}/items/{sku}:
    get:
      parameters:
        - {name: orderId, in: path, required: true, schema: {type: string, pattern: "^ord_[0-9]+$"}}
        - {name: sku, in: path, required: true, schema: {type: string, maxLength: 32}}
      responses:
        "200": {description: ok}
`
