package smtplistener

import (
	"net"
	"testing"
)

func TestClientOf(t *testing.T) {
	for _, tc := range []struct {
		ip            string
		addr, network string
	}{
		{"192.0.2.7", "192.0.2.7", "192.0.2.0/24"},
		{"::ffff:192.0.2.7", "192.0.2.7", "192.0.2.0/24"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "2001:db8:1:2::ffff", "2001:db8:1:2::/64"},
		{"::1", "::1", "::/64"},
	} {
		addr, network := clientOf(&net.TCPAddr{IP: net.ParseIP(tc.ip), Port: 25})
		if addr != tc.addr || network != tc.network {
			t.Errorf("clientOf(%s) = %s, %s; want %s, %s", tc.ip, addr, network, tc.addr, tc.network)
		}
	}
}

func TestPerNetworkDefault(t *testing.T) {
	for _, tc := range []struct{ conns, perAddr, want int }{
		{0, 0, 100}, {1000, 0, 100}, {50, 0, 20}, {10, 0, 10}, {1000, 300, 300},
	} {
		c := Config{MaxConnections: tc.conns, MaxPerAddr: tc.perAddr}.WithDefaults()
		if c.MaxPerNetwork != tc.want {
			t.Errorf("MaxConnections %d, MaxPerAddr %d: MaxPerNetwork %d, want %d", tc.conns, tc.perAddr, c.MaxPerNetwork, tc.want)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("defaults invalid: %v", err)
		}
	}
	if err := (Config{MaxConnections: 100, MaxPerAddr: 30, MaxPerNetwork: 20}).WithDefaults().Validate(); err == nil {
		t.Error("a per-address limit over the per-network one is accepted")
	}
}
