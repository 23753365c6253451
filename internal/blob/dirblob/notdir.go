package dirblob

import (
	"errors"
	"syscall"
)

// isNotDir reports ENOTDIR: a path crosses a file as if it were a directory.
func isNotDir(err error) bool { return errors.Is(err, syscall.ENOTDIR) }
