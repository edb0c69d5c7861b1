// Package docs holds the reference pages of caddy-apigate and no code: its
// test checks that the names README.md and the pages document exist in the
// code, that their links resolve, and that they state one set of facts.
package docs
