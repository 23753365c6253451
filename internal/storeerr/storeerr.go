// Package storeerr classifies the store errors of the functions that act
// on one named object: a missing object is permanent (the order names
// something that does not exist, and retrying changes nothing), anything
// else temporary.
package storeerr

import (
	"errors"
	"fmt"

	"github.com/caliopen/functions/internal/faults"
	"github.com/caliopen/functions/internal/fnhttp"
	"github.com/caliopen/functions/internal/store"
)

// Classify wraps err with op: store.ErrNotFound becomes permanent with
// code notFound, the rest temporary with code store_unavailable.
func Classify(op, notFound string, err error) error {
	err = fmt.Errorf("%s: %w", op, err)
	if errors.Is(err, store.ErrNotFound) {
		return fnhttp.WithCode(faults.Perm(err), notFound)
	}
	return fnhttp.WithCode(faults.Temp(err), "store_unavailable")
}
