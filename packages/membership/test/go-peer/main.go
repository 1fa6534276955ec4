// Command memberlist-peer is a test fixture: one HashiCorp memberlist (0.2.2) node in its own
// process, driven over stdin/stdout with one JSON object per line, so that the TypeScript tests
// can put real Go nodes into the same cluster as TypeScript nodes.
//
// Stdout carries only JSON lines (events and command replies); memberlist's own log goes to
// stderr. The encryption key is read from a file (-key-file) and is never printed.
//
// Build offline in GOPATH mode against Debian's golang-github-hashicorp-memberlist-dev:
//
//	GO111MODULE=off CGO_ENABLED=0 GOPATH=/usr/share/gocode go build -o memberlist-peer main.go
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/hashicorp/memberlist"
)

// ---------------------------------------------------------------------------------------------
// Output: one JSON object per line, written whole under a lock (os.Stdout is unbuffered, so each
// line reaches the reader as soon as it is written).

type output struct {
	mu sync.Mutex
}

func (o *output) emit(v map[string]any) {
	line, err := json.Marshal(v)
	if err != nil {
		line, _ = json.Marshal(map[string]any{"event": "error", "message": "encode: " + err.Error()})
	}
	line = append(line, '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = os.Stdout.Write(line)
}

var out = &output{}

// ---------------------------------------------------------------------------------------------
// Node views. memberlist 0.2.2 keeps a node's incarnation and its current state in an unexported
// wrapper struct whose first field is the public Node (the Node.State field of that embedded
// value is not kept up to date). Every *Node memberlist hands out (Members, LocalNode, the event
// delegate) points into such a wrapper, so the layout is discovered once by reflection and the two
// fields are read at their offsets. If the layout is not as expected, both are reported as null.

type nodeLayout struct {
	ok          bool
	incarnation uintptr
	state       uintptr
	lock        uintptr // offset of Memberlist.nodeLock (a sync.RWMutex)
}

var layout = discoverLayout()

func discoverLayout() nodeLayout {
	listType := reflect.TypeOf(memberlist.Memberlist{})
	nodes, ok := listType.FieldByName("nodes")
	if !ok || nodes.Type.Kind() != reflect.Slice || nodes.Type.Elem().Kind() != reflect.Pointer {
		return nodeLayout{}
	}
	wrapper := nodes.Type.Elem().Elem()
	if wrapper.Kind() != reflect.Struct || wrapper.NumField() == 0 {
		return nodeLayout{}
	}
	first := wrapper.Field(0)
	if !first.Anonymous || first.Offset != 0 || first.Type != reflect.TypeOf(memberlist.Node{}) {
		return nodeLayout{}
	}
	inc, ok := wrapper.FieldByName("Incarnation")
	if !ok || len(inc.Index) != 1 || inc.Type.Kind() != reflect.Uint32 {
		return nodeLayout{}
	}
	state, ok := wrapper.FieldByName("State")
	if !ok || len(state.Index) != 1 || state.Type != reflect.TypeOf(memberlist.NodeStateType(0)) {
		return nodeLayout{}
	}
	lock, ok := listType.FieldByName("nodeLock")
	if !ok || lock.Type != reflect.TypeOf(sync.RWMutex{}) {
		return nodeLayout{}
	}
	return nodeLayout{ok: true, incarnation: inc.Offset, state: state.Offset, lock: lock.Offset}
}

// nodeView renders a node. The caller must make sure memberlist is not changing it meanwhile:
// event callbacks run with memberlist's node lock held; other callers use withNodeLock.
func nodeView(n *memberlist.Node) map[string]any {
	view := map[string]any{
		"name":        n.Name,
		"addr":        n.Addr.String(),
		"port":        n.Port,
		"meta_b64":    base64.StdEncoding.EncodeToString(n.Meta),
		"state":       nil,
		"incarnation": nil,
		"vsn":         []int{int(n.PMin), int(n.PMax), int(n.PCur), int(n.DMin), int(n.DMax), int(n.DCur)},
	}
	if layout.ok {
		base := unsafe.Pointer(n)
		view["state"] = int(*(*memberlist.NodeStateType)(unsafe.Add(base, layout.state)))
		view["incarnation"] = *(*uint32)(unsafe.Add(base, layout.incarnation))
	}
	return view
}

func withNodeLock(m *memberlist.Memberlist, f func()) {
	if !layout.ok {
		f()
		return
	}
	lock := (*sync.RWMutex)(unsafe.Add(unsafe.Pointer(m), layout.lock))
	lock.RLock()
	defer lock.RUnlock()
	f()
}

// ---------------------------------------------------------------------------------------------
// Delegates.

type userBroadcast struct{ msg []byte }

func (b *userBroadcast) Invalidates(memberlist.Broadcast) bool { return false }
func (b *userBroadcast) Message() []byte                       { return b.msg }
func (b *userBroadcast) Finished()                             {}

type peerDelegate struct {
	mu        sync.Mutex
	meta      []byte
	userState []byte
	queue     *memberlist.TransmitLimitedQueue
}

func (d *peerDelegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.meta) > limit {
		return d.meta[:limit]
	}
	return append([]byte(nil), d.meta...)
}

func (d *peerDelegate) setMeta(meta []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.meta = meta
}

func (d *peerDelegate) NotifyMsg(msg []byte) {
	out.emit(map[string]any{"event": "message", "data_b64": base64.StdEncoding.EncodeToString(msg)})
}

func (d *peerDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.queue.GetBroadcasts(overhead, limit)
}

func (d *peerDelegate) LocalState(join bool) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]byte(nil), d.userState...)
}

func (d *peerDelegate) MergeRemoteState(buf []byte, join bool) {
	out.emit(map[string]any{
		"event":    "merge_remote_state",
		"join":     join,
		"data_b64": base64.StdEncoding.EncodeToString(buf),
	})
}

type peerEvents struct{}

func (peerEvents) NotifyJoin(n *memberlist.Node) {
	out.emit(map[string]any{"event": "join", "node": nodeView(n)})
}

func (peerEvents) NotifyLeave(n *memberlist.Node) {
	out.emit(map[string]any{"event": "leave", "node": nodeView(n)})
}

func (peerEvents) NotifyUpdate(n *memberlist.Node) {
	out.emit(map[string]any{"event": "update", "node": nodeView(n)})
}

// ---------------------------------------------------------------------------------------------
// Flags and configuration.

type options struct {
	name            string
	bind            string
	port            int
	config          string
	probeInterval   int
	probeTimeout    int
	gossipInterval  int
	pushPull        int
	suspicionMult   int
	tcpTimeout      int
	protocolVersion int
	keyFile         string
	metaB64         string
	userState       string
	delegateVersion string
	compression     string
	verifyIncoming  string
	verifyOutgoing  string
}

func parseFlags() options {
	var o options
	host, _ := os.Hostname()
	flag.StringVar(&o.name, "name", fmt.Sprintf("%s-%d", host, os.Getpid()), "node name")
	flag.StringVar(&o.bind, "bind", "127.0.0.1", "bind address")
	flag.IntVar(&o.port, "port", 0, "bind port (0 picks a free one)")
	flag.StringVar(&o.config, "config", "local", "base configuration: lan, local or wan")
	flag.IntVar(&o.probeInterval, "probe-interval-ms", 0, "override ProbeInterval (0 keeps the base)")
	flag.IntVar(&o.probeTimeout, "probe-timeout-ms", 0, "override ProbeTimeout")
	flag.IntVar(&o.gossipInterval, "gossip-interval-ms", 0, "override GossipInterval")
	flag.IntVar(&o.pushPull, "pushpull-interval-ms", 0, "override PushPullInterval")
	flag.IntVar(&o.suspicionMult, "suspicion-mult", 0, "override SuspicionMult")
	flag.IntVar(&o.tcpTimeout, "tcp-timeout-ms", 0, "override TCPTimeout")
	flag.IntVar(&o.protocolVersion, "protocol-version", -1, "override ProtocolVersion (-1 keeps the base)")
	flag.StringVar(&o.keyFile, "key-file", "", "file holding the encryption key as base64 or hex text")
	flag.StringVar(&o.metaB64, "meta-b64", "", "initial node meta, base64")
	flag.StringVar(&o.userState, "user-state", "", "what the delegate's LocalState returns")
	flag.StringVar(&o.delegateVersion, "delegate-version", "0,0,0", "delegate protocol MIN,MAX,CUR")
	flag.StringVar(&o.compression, "compression", "", "override EnableCompression: true or false")
	flag.StringVar(&o.verifyIncoming, "gossip-verify-incoming", "", "override GossipVerifyIncoming: true or false")
	flag.StringVar(&o.verifyOutgoing, "gossip-verify-outgoing", "", "override GossipVerifyOutgoing: true or false")
	flag.Parse()
	return o
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// readKey reads a key file: text in base64 or hex, optionally prefixed "base64:" or "hex:".
// Errors never quote the key.
func readKey(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %v", err)
	}
	text := strings.TrimSpace(string(raw))
	var key []byte
	switch {
	case strings.HasPrefix(text, "hex:"):
		key, err = hex.DecodeString(text[len("hex:"):])
	case strings.HasPrefix(text, "base64:"):
		key, err = base64.StdEncoding.DecodeString(text[len("base64:"):])
	default:
		if k, herr := hex.DecodeString(text); herr == nil && memberlist.ValidateKey(k) == nil {
			key = k
		} else {
			key, err = base64.StdEncoding.DecodeString(text)
		}
	}
	if err != nil {
		return nil, errors.New("key file is neither valid base64 nor valid hex")
	}
	if err := memberlist.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("key from key file: %v", err)
	}
	return key, nil
}

func parseBoolOverride(name, value string, target *bool) error {
	if value == "" {
		return nil
	}
	b, err := strconv.ParseBool(value)
	if err != nil {
		return fmt.Errorf("-%s: %v", name, err)
	}
	*target = b
	return nil
}

func buildConfig(o options, delegate *peerDelegate) (*memberlist.Config, error) {
	var conf *memberlist.Config
	switch o.config {
	case "lan":
		conf = memberlist.DefaultLANConfig()
	case "local":
		conf = memberlist.DefaultLocalConfig()
	case "wan":
		conf = memberlist.DefaultWANConfig()
	default:
		return nil, fmt.Errorf("-config must be lan, local or wan, not %q", o.config)
	}
	conf.Name = o.name
	conf.BindAddr = o.bind
	conf.BindPort = o.port
	conf.AdvertisePort = o.port
	conf.LogOutput = os.Stderr
	if o.probeInterval > 0 {
		conf.ProbeInterval = ms(o.probeInterval)
	}
	if o.probeTimeout > 0 {
		conf.ProbeTimeout = ms(o.probeTimeout)
	}
	if o.gossipInterval > 0 {
		conf.GossipInterval = ms(o.gossipInterval)
	}
	if o.pushPull > 0 {
		conf.PushPullInterval = ms(o.pushPull)
	}
	if o.suspicionMult > 0 {
		conf.SuspicionMult = o.suspicionMult
	}
	if o.tcpTimeout > 0 {
		conf.TCPTimeout = ms(o.tcpTimeout)
	}
	if o.protocolVersion >= 0 {
		conf.ProtocolVersion = uint8(o.protocolVersion)
	}
	if err := parseBoolOverride("compression", o.compression, &conf.EnableCompression); err != nil {
		return nil, err
	}
	if err := parseBoolOverride("gossip-verify-incoming", o.verifyIncoming, &conf.GossipVerifyIncoming); err != nil {
		return nil, err
	}
	if err := parseBoolOverride("gossip-verify-outgoing", o.verifyOutgoing, &conf.GossipVerifyOutgoing); err != nil {
		return nil, err
	}

	parts := strings.Split(o.delegateVersion, ",")
	if len(parts) != 3 {
		return nil, fmt.Errorf("-delegate-version must be MIN,MAX,CUR")
	}
	var vsn [3]uint8
	for i, p := range parts {
		v, err := strconv.ParseUint(strings.TrimSpace(p), 10, 8)
		if err != nil {
			return nil, fmt.Errorf("-delegate-version: %v", err)
		}
		vsn[i] = uint8(v)
	}
	conf.DelegateProtocolMin, conf.DelegateProtocolMax, conf.DelegateProtocolVersion = vsn[0], vsn[1], vsn[2]

	// Always give memberlist a keyring, empty when there is no key: installing a key later then
	// turns encryption on, and the keyring commands always have something to act on.
	var key []byte
	if o.keyFile != "" {
		k, err := readKey(o.keyFile)
		if err != nil {
			return nil, err
		}
		key = k
	}
	keyring, err := memberlist.NewKeyring(nil, key)
	if err != nil {
		return nil, fmt.Errorf("keyring: %v", err)
	}
	conf.Keyring = keyring

	meta, err := base64.StdEncoding.DecodeString(o.metaB64)
	if err != nil {
		return nil, fmt.Errorf("-meta-b64: %v", err)
	}
	if len(meta) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("-meta-b64: %d bytes, limit %d", len(meta), memberlist.MetaMaxSize)
	}
	delegate.meta = meta
	delegate.userState = []byte(o.userState)
	delegate.queue.RetransmitMult = conf.RetransmitMult
	conf.Delegate = delegate
	conf.Events = peerEvents{}
	return conf, nil
}

// ---------------------------------------------------------------------------------------------
// Commands.

type command struct {
	ID        json.RawMessage `json:"id"`
	Cmd       string          `json:"cmd"`
	Addrs     []string        `json:"addrs"`
	MetaB64   string          `json:"meta_b64"`
	TimeoutMs int             `json:"timeout_ms"`
	Node      string          `json:"node"`
	Reliable  bool            `json:"reliable"`
	DataB64   string          `json:"data_b64"`
	Op        string          `json:"op"`
	KeyB64    string          `json:"key_b64"`
}

type peer struct {
	list     *memberlist.Memberlist
	conf     *memberlist.Config
	delegate *peerDelegate
	stopOnce sync.Once
}

// stop shuts memberlist down (no leave message: a leave is its own command) and exits 0.
func (p *peer) stop(reason string) {
	p.stopOnce.Do(func() {
		if err := p.list.Shutdown(); err != nil {
			fmt.Fprintf(os.Stderr, "memberlist-peer: shutdown: %v\n", err)
		}
		out.emit(map[string]any{"event": "shutdown", "reason": reason})
		os.Exit(0)
	})
}

func decodeB64(field, value string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(value)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", field, err)
	}
	return b, nil
}

func (p *peer) findMember(name string) (*memberlist.Node, error) {
	for _, n := range p.list.Members() {
		if n.Name == name {
			return n, nil
		}
	}
	return nil, fmt.Errorf("no live member named %q", name)
}

func (p *peer) execute(c *command) (map[string]any, error) {
	switch c.Cmd {
	case "join":
		if len(c.Addrs) == 0 {
			return nil, errors.New("join: addrs is empty")
		}
		n, err := p.list.Join(c.Addrs)
		if err != nil {
			return nil, fmt.Errorf("join: %v", err)
		}
		return map[string]any{"contacted": n}, nil

	case "members":
		members := p.list.Members()
		views := make([]map[string]any, 0, len(members))
		withNodeLock(p.list, func() {
			for _, n := range members {
				views = append(views, nodeView(n))
			}
		})
		return map[string]any{"members": views}, nil

	case "local":
		n := p.list.LocalNode()
		var view map[string]any
		withNodeLock(p.list, func() { view = nodeView(n) })
		return map[string]any{"node": view}, nil

	case "num_members":
		return map[string]any{"num_members": p.list.NumMembers()}, nil

	case "health":
		return map[string]any{"score": p.list.GetHealthScore()}, nil

	case "update_meta":
		meta, err := decodeB64("meta_b64", c.MetaB64)
		if err != nil {
			return nil, err
		}
		if len(meta) > memberlist.MetaMaxSize {
			return nil, fmt.Errorf("meta is %d bytes, limit %d", len(meta), memberlist.MetaMaxSize)
		}
		p.delegate.setMeta(meta)
		if err := p.list.UpdateNode(ms(c.TimeoutMs)); err != nil {
			return nil, fmt.Errorf("update_meta: %v", err)
		}
		return map[string]any{}, nil

	case "send":
		data, err := decodeB64("data_b64", c.DataB64)
		if err != nil {
			return nil, err
		}
		node, err := p.findMember(c.Node)
		if err != nil {
			return nil, err
		}
		if c.Reliable {
			err = p.list.SendReliable(node, data)
		} else {
			err = p.list.SendBestEffort(node, data)
		}
		if err != nil {
			return nil, fmt.Errorf("send: %v", err)
		}
		return map[string]any{}, nil

	case "broadcast":
		data, err := decodeB64("data_b64", c.DataB64)
		if err != nil {
			return nil, err
		}
		p.delegate.queue.QueueBroadcast(&userBroadcast{msg: data})
		return map[string]any{"queued": p.delegate.queue.NumQueued()}, nil

	case "leave":
		if err := p.list.Leave(ms(c.TimeoutMs)); err != nil {
			return nil, fmt.Errorf("leave: %v", err)
		}
		return map[string]any{}, nil

	case "keyring":
		key, err := decodeB64("key_b64", c.KeyB64)
		if err != nil {
			return nil, err
		}
		ring := p.conf.Keyring
		switch c.Op {
		case "install":
			err = ring.AddKey(key)
		case "use":
			err = ring.UseKey(key)
		case "remove":
			if len(ring.GetKeys()) == 0 {
				err = errors.New("the keyring is empty")
			} else {
				err = ring.RemoveKey(key)
			}
		default:
			err = fmt.Errorf("op must be install, use or remove, not %q", c.Op)
		}
		if err != nil {
			return nil, fmt.Errorf("keyring %s: %v", c.Op, err)
		}
		return map[string]any{"num_keys": len(ring.GetKeys())}, nil

	default:
		return nil, fmt.Errorf("unknown command %q", c.Cmd)
	}
}

func (p *peer) handle(c *command) {
	reply, err := p.execute(c)
	if err != nil {
		out.emit(map[string]any{"event": "error", "id": c.ID, "message": err.Error()})
		return
	}
	reply["event"] = "reply"
	reply["id"] = c.ID
	out.emit(reply)
}

// readCommands runs each command on its own goroutine (join and leave block for up to their
// timeouts); a caller that needs ordering waits for the reply. shutdown and stdin EOF stop the
// process.
func (p *peer) readCommands() {
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" {
			continue
		}
		c := &command{}
		if err := json.Unmarshal([]byte(line), c); err != nil {
			out.emit(map[string]any{"event": "error", "id": nil, "message": "bad command line: " + err.Error()})
			continue
		}
		if c.ID == nil {
			c.ID = json.RawMessage("null")
		}
		if c.Cmd == "shutdown" {
			out.emit(map[string]any{"event": "reply", "id": c.ID})
			p.stop("command")
		}
		go p.handle(c)
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "memberlist-peer: reading stdin: %v\n", err)
	}
	p.stop("stdin-eof")
}

func main() {
	o := parseFlags()
	delegate := &peerDelegate{queue: &memberlist.TransmitLimitedQueue{}}
	conf, err := buildConfig(o, delegate)
	if err != nil {
		fmt.Fprintf(os.Stderr, "memberlist-peer: %v\n", err)
		os.Exit(2)
	}
	if !layout.ok {
		fmt.Fprintln(os.Stderr, "memberlist-peer: unexpected memberlist layout; state and incarnation will be null")
	}
	list, err := memberlist.Create(conf)
	if err != nil {
		fmt.Fprintf(os.Stderr, "memberlist-peer: create: %v\n", err)
		os.Exit(1)
	}
	delegate.queue.NumNodes = list.NumMembers
	p := &peer{list: list, conf: conf, delegate: delegate}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-signals
		p.stop("signal " + sig.String())
	}()

	local := list.LocalNode()
	out.emit(map[string]any{"event": "ready", "name": conf.Name, "addr": local.Addr.String(), "port": local.Port})
	p.readCommands()
}
