import type { User } from '../domain/model.js';
import { compact } from './json.js';
import type { SqlDb } from './sqlDb.js';

interface Row {
  id: string;
  name: string;
  display_name: string | null;
}

const toUser = (row: Row): User => compact({ id: row.id, name: row.name, display_name: row.display_name });

/** Users table: identities that tokens name by `sub`. */
export class UsersRepo {
  private readonly byName;
  private readonly byId;
  private readonly insertStmt;

  constructor(db: SqlDb) {
    this.byName = db.prepare<[string], Row>('SELECT id, name, display_name FROM users WHERE name = ?');
    this.byId = db.prepare<[string], Row>('SELECT id, name, display_name FROM users WHERE id = ?');
    this.insertStmt = db.prepare('INSERT INTO users (id, name, display_name, created_at) VALUES (@id, @name, @display_name, @created_at)');
  }

  getByName(name: string): User | undefined {
    const row = this.byName.get(name);
    return row ? toUser(row) : undefined;
  }

  getById(id: string): User | undefined {
    const row = this.byId.get(id);
    return row ? toUser(row) : undefined;
  }

  insert(user: User, createdAt: string): void {
    this.insertStmt.run({ id: user.id, name: user.name, display_name: user.display_name ?? null, created_at: createdAt });
  }
}
