"""Log in to an SSH server by keyboard-interactive with a token read from a file.

Usage: ssh_kbdint.py HOST PORT USER TOKEN_FILE HOST_KEY_PUB COMMAND

Unlike the OpenSSH client, whose answers to keyboard-interactive prompts are read into
a 1024-byte buffer (at most 1023 bytes), this client (paramiko) sends the whole token,
so the limits of sshd itself can be measured. The server's host key must equal the one
in HOST_KEY_PUB. Prints the command's output; exits with its status, or 255 when the
connection or authentication fails.
"""
import sys

import paramiko


def main():
    host, port, user, token_file, host_pub, command = sys.argv[1:7]
    with open(token_file) as f:
        token = f.readline().strip()
    with open(host_pub) as f:
        want_type, want_key = f.read().split()[:2]
    transport = paramiko.Transport((host, int(port)))
    try:
        transport.start_client(timeout=30)
        key = transport.get_remote_server_key()
        if key.get_name() != want_type or key.get_base64() != want_key:
            print("host key mismatch", file=sys.stderr)
            return 255
        try:
            transport.auth_interactive(user, lambda title, instr, prompts: [token] * len(prompts))
        except paramiko.AuthenticationException as e:
            print("authentication failed: %s" % e, file=sys.stderr)
            return 255
        channel = transport.open_session()
        channel.exec_command(command)
        output = channel.makefile("rb").read()
        sys.stdout.write(output.decode(errors="replace"))
        return channel.recv_exit_status()
    except (paramiko.SSHException, OSError) as e:
        print("ssh failed: %s" % e, file=sys.stderr)
        return 255
    finally:
        transport.close()


if __name__ == "__main__":
    sys.exit(main())
