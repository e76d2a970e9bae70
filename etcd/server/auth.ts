// The replicated part of etcd's auth store: users, roles, permissions and
// the enabled flag, changed only through the log. Passwords arrive already
// hashed (hashing is salted, so it happens before proposing).

import { EtcdError, Errors, GrpcCode } from '../errors.js';
import type { AuthOp } from './codec.js';
import { BinaryReader, BinaryWriter } from './binary.js';

export interface Permission {
  permType: 'READ' | 'WRITE' | 'READWRITE';
  key: Buffer;
  rangeEnd: Buffer;
}

export interface User {
  name: string;
  passwordHash: string;
  noPassword: boolean;
  roles: string[];
}

export interface Role {
  name: string;
  perms: Permission[];
}

const err = (code: (typeof GrpcCode)[keyof typeof GrpcCode], message: string) => new EtcdError(code, message);
export const AuthErrors = {
  userEmpty: () => err(GrpcCode.INVALID_ARGUMENT, 'etcdserver: user name is empty'),
  userExists: () => err(GrpcCode.FAILED_PRECONDITION, 'etcdserver: user name already exists'),
  userNotFound: () => err(GrpcCode.FAILED_PRECONDITION, 'etcdserver: user name not found'),
  roleEmpty: () => err(GrpcCode.INVALID_ARGUMENT, 'etcdserver: role name is empty'),
  roleExists: () => err(GrpcCode.FAILED_PRECONDITION, 'etcdserver: role name already exists'),
  roleNotFound: () => err(GrpcCode.FAILED_PRECONDITION, 'etcdserver: role name not found'),
  roleNotGranted: () => err(GrpcCode.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'),
  permissionNotGranted: () => err(GrpcCode.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'),
  rootRoleNotExist: () => err(GrpcCode.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'),
  invalidAuthMgmt: () => err(GrpcCode.FAILED_PRECONDITION, 'etcdserver: invalid auth management'),
  authFailed: () => err(GrpcCode.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'),
};

const ROOT = 'root';

export class AuthState {
  enabled = false;
  revision = 1;
  readonly users = new Map<string, User>();
  readonly roles = new Map<string, Role>();

  apply(op: AuthOp): void {
    switch (op.method) {
      case 'authEnable': {
        if (this.enabled) return;
        const root = this.users.get(ROOT);
        if (!root) throw Errors.rootUserNotExist();
        if (!root.roles.includes(ROOT)) throw AuthErrors.rootRoleNotExist();
        this.enabled = true;
        break;
      }
      case 'authDisable':
        if (!this.enabled) return;
        this.enabled = false;
        break;
      case 'userAdd':
        if (op.name === '') throw AuthErrors.userEmpty();
        if (this.users.has(op.name)) throw AuthErrors.userExists();
        this.users.set(op.name, { name: op.name, passwordHash: op.passwordHash, noPassword: op.noPassword, roles: [] });
        break;
      case 'userDelete':
        if (this.enabled && op.name === ROOT) throw AuthErrors.invalidAuthMgmt();
        if (!this.users.delete(op.name)) throw AuthErrors.userNotFound();
        break;
      case 'userChangePassword': {
        const u = this.users.get(op.name);
        if (!u) throw AuthErrors.userNotFound();
        u.passwordHash = op.passwordHash;
        u.noPassword = op.noPassword;
        break;
      }
      case 'userGrantRole': {
        const u = this.users.get(op.name);
        if (!u) throw AuthErrors.userNotFound();
        if (op.role !== ROOT && !this.roles.has(op.role)) throw AuthErrors.roleNotFound();
        if (u.roles.includes(op.role)) return;
        u.roles = [...u.roles, op.role].sort();
        break;
      }
      case 'userRevokeRole': {
        if (this.enabled && op.name === ROOT && op.role === ROOT) throw AuthErrors.invalidAuthMgmt();
        const u = this.users.get(op.name);
        if (!u) throw AuthErrors.userNotFound();
        if (!u.roles.includes(op.role)) throw AuthErrors.roleNotGranted();
        u.roles = u.roles.filter((r) => r !== op.role);
        break;
      }
      case 'roleAdd':
        if (op.role === '') throw AuthErrors.roleEmpty();
        if (this.roles.has(op.role)) throw AuthErrors.roleExists();
        this.roles.set(op.role, { name: op.role, perms: [] });
        break;
      case 'roleDelete':
        if (this.enabled && op.role === ROOT) throw AuthErrors.invalidAuthMgmt();
        if (!this.roles.delete(op.role)) throw AuthErrors.roleNotFound();
        for (const u of this.users.values()) u.roles = u.roles.filter((r) => r !== op.role);
        break;
      case 'roleGrantPermission': {
        const r = this.roles.get(op.role);
        if (!r) throw AuthErrors.roleNotFound();
        const same = (p: Permission) => p.key.equals(op.key) && p.rangeEnd.equals(op.rangeEnd);
        const perm: Permission = { permType: op.permType, key: op.key, rangeEnd: op.rangeEnd };
        r.perms = [...r.perms.filter((p) => !same(p)), perm].sort((a, b) => Buffer.compare(a.key, b.key) || Buffer.compare(a.rangeEnd, b.rangeEnd));
        break;
      }
      case 'roleRevokePermission': {
        const r = this.roles.get(op.role);
        if (!r) throw AuthErrors.roleNotFound();
        const before = r.perms.length;
        r.perms = r.perms.filter((p) => !(p.key.equals(op.key) && p.rangeEnd.equals(op.rangeEnd)));
        if (r.perms.length === before) throw AuthErrors.permissionNotGranted();
        break;
      }
    }
    this.revision++;
  }

  encode(w: BinaryWriter): void {
    w.bool(this.enabled).uvarint(this.revision);
    const users = [...this.users.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    w.uvarint(users.length);
    for (const u of users) w.string(u.name).string(u.passwordHash).bool(u.noPassword).strings(u.roles);
    const roles = [...this.roles.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    w.uvarint(roles.length);
    for (const r of roles) {
      w.string(r.name).uvarint(r.perms.length);
      for (const p of r.perms) w.u8(['READ', 'WRITE', 'READWRITE'].indexOf(p.permType)).bytes(p.key).bytes(p.rangeEnd);
    }
  }

  static decode(r: BinaryReader): AuthState {
    const a = new AuthState();
    a.enabled = r.bool();
    a.revision = r.uvarint();
    const nu = r.uvarint();
    for (let i = 0; i < nu; i++) {
      const u: User = { name: r.string(), passwordHash: r.string(), noPassword: r.bool(), roles: r.strings() };
      a.users.set(u.name, u);
    }
    const nr = r.uvarint();
    for (let i = 0; i < nr; i++) {
      const role: Role = { name: r.string(), perms: [] };
      const np = r.uvarint();
      for (let j = 0; j < np; j++) {
        role.perms.push({ permType: r.choice(['READ', 'WRITE', 'READWRITE'] as const, 'permission type'), key: r.bytes(), rangeEnd: r.bytes() });
      }
      a.roles.set(role.name, role);
    }
    return a;
  }
}
