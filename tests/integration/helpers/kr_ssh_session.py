"""Hold an SSH login open (keyboard-interactive with a token) and run commands inside it.

Usage: kr_ssh_session.py HOST PORT USER TOKEN_FILE HOST_KEY_PUB OUTDIR [--pty]

One SSH connection is one login (sshd opens the PAM session once per connection). After
authenticating, this client opens a "hold" channel running HOLD_COMMAND (it prints
"hold PID" and "bg PID", then "tick" every second); its output goes to OUTDIR/hold.out.
When that channel or the connection ends, OUTDIR/closed is written:
"closed EPOCH_SECONDS status N|none".

Each line read on standard input, "RUN NAME COMMAND...", runs COMMAND in a new channel of
the same connection (no pty, stdin closed) and writes OUTDIR/NAME.out, OUTDIR/NAME.err and
finally OUTDIR/NAME.rc (the exit status, or 255 if the channel could not be opened). End of
input closes the connection.

OUTDIR/status is "authenticated" once logged in, or "failed: REASON". Exits 0, or 255 when
the connection or authentication fails. The server's host key must equal HOST_KEY_PUB.
"""
import os
import sys
import threading
import time

import paramiko

HOLD_COMMAND = ('echo "hold $$"; sleep 600 & echo "bg $!"; '
                'while :; do echo tick; sleep 1; done')


def write_file(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def hold(transport, outdir, pty):
    status = "none"
    try:
        channel = transport.open_session()
        if pty:
            channel.get_pty(term="dumb", width=80, height=24)
        channel.exec_command(HOLD_COMMAND)
        with open(os.path.join(outdir, "hold.out"), "wb", buffering=0) as out:
            while True:
                data = channel.recv(4096)
                if not data:
                    break
                out.write(data)
        # give the exit status a moment to arrive after EOF
        for _ in range(20):
            if channel.exit_status_ready():
                status = str(channel.recv_exit_status())
                break
            time.sleep(0.05)
    except (paramiko.SSHException, OSError, EOFError) as e:
        status = "none (%s)" % e.__class__.__name__
    write_file(os.path.join(outdir, "closed"), "closed %.3f status %s\n" % (time.time(), status))


def run(transport, outdir, name, command):
    out = err = b""
    rc = 255
    try:
        channel = transport.open_session()
        channel.exec_command(command)
        channel.shutdown_write()
        stdout = channel.makefile("rb")
        stderr = channel.makefile_stderr("rb")
        out = stdout.read()
        err = stderr.read()
        rc = channel.recv_exit_status()
    except (paramiko.SSHException, OSError, EOFError) as e:
        err += ("\nchannel failed: %s\n" % e).encode()
    with open(os.path.join(outdir, name + ".out"), "wb") as f:
        f.write(out)
    with open(os.path.join(outdir, name + ".err"), "wb") as f:
        f.write(err)
    write_file(os.path.join(outdir, name + ".rc"), "%d\n" % rc)


def main():
    host, port, user, token_file, host_pub, outdir = sys.argv[1:7]
    pty = "--pty" in sys.argv[7:]
    with open(token_file) as f:
        token = f.readline().strip()
    with open(host_pub) as f:
        want_type, want_key = f.read().split()[:2]
    transport = paramiko.Transport((host, int(port)))
    try:
        transport.start_client(timeout=30)
        key = transport.get_remote_server_key()
        if key.get_name() != want_type or key.get_base64() != want_key:
            write_file(os.path.join(outdir, "status"), "failed: host key mismatch\n")
            return 255
        try:
            transport.auth_interactive(user, lambda title, instr, prompts: [token] * len(prompts))
        except paramiko.AuthenticationException as e:
            write_file(os.path.join(outdir, "status"), "failed: %s\n" % e)
            return 255
        write_file(os.path.join(outdir, "status"), "authenticated\n")
        holder = threading.Thread(target=hold, args=(transport, outdir, pty), daemon=True)
        holder.start()
        for line in sys.stdin:
            parts = line.rstrip("\n").split(" ", 2)
            if len(parts) == 3 and parts[0] == "RUN":
                run(transport, outdir, parts[1], parts[2])
        return 0
    except (paramiko.SSHException, OSError) as e:
        write_file(os.path.join(outdir, "status"), "failed: %s\n" % e)
        return 255
    finally:
        transport.close()


if __name__ == "__main__":
    sys.exit(main())
