package provider

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/openfaas/faas-provider/types"
)

// Deployments outlive the process: each accepted deployment is kept as
// deployments/<service>.json under the data directory, and a removed
// function leaves deployments/<service>.removed, so that a restart brings
// back what faas-cli deployed, scaled by its labels, and not what it
// removed.
const (
	savedDir      = "deployments"
	savedExt      = ".json"
	tombstoneExt  = ".removed"
	maxSavedBytes = 1 << 20 // a deployment is a few KiB; a larger file is not one
)

// Saved is what an earlier run of the provider on the same data directory
// left: the deployments in force when it stopped, and the functions it had
// removed.
type Saved struct {
	Deployments []types.FunctionDeployment
	Removed     []string
	// Unreadable names the files that could not be read back, with why;
	// they are left in place for the operator.
	Unreadable []string
}

// Saved reads what earlier runs left, sorted by service name.
func (p *Provider) Saved() (Saved, error) {
	var out Saved
	dir := filepath.Join(p.cfg.DataDir, savedDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("provider: saved deployments: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, tombstoneExt):
			out.Removed = append(out.Removed, strings.TrimSuffix(name, tombstoneExt))
		case strings.HasSuffix(name, savedExt):
			d, err := readSaved(filepath.Join(dir, name))
			if err == nil && d.Service+savedExt != name {
				err = fmt.Errorf("it deploys %q", d.Service)
			}
			if err != nil {
				out.Unreadable = append(out.Unreadable, fmt.Sprintf("%s: %v", name, err))
				continue
			}
			out.Deployments = append(out.Deployments, d)
		}
	}
	slices.Sort(out.Removed)
	return out, nil
}

func readSaved(path string) (types.FunctionDeployment, error) {
	var d types.FunctionDeployment
	f, err := os.Open(path)
	if err != nil {
		return d, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return d, err
	} else if fi.Size() > maxSavedBytes {
		return d, fmt.Errorf("%d bytes, more than a deployment holds", fi.Size())
	}
	if err := json.NewDecoder(f).Decode(&d); err != nil {
		return d, fmt.Errorf("not a deployment: %w", err)
	}
	return d, nil
}

// save keeps d for the next run and clears its service's tombstone.
func (p *Provider) save(d types.FunctionDeployment) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Join(p.cfg.DataDir, savedDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// Written aside and renamed: a crash leaves the old deployment or the
	// new one, never half of one.
	tmp, err := os.CreateTemp(dir, ".deployment-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, d.Service+savedExt))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Remove(filepath.Join(dir, d.Service+tombstoneExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// forget drops service's saved deployment and leaves its tombstone.
func (p *Provider) forget(service string) error {
	dir := filepath.Join(p.cfg.DataDir, savedDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, service+tombstoneExt), nil, 0o600); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, service+savedExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
