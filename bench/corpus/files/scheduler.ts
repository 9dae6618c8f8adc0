export interface Task {
  id: string;
  priority: number;
  dependsOn: string[];
  durationMs: number;
}

export class Scheduler {
  private tasks = new Map<string, Task>();

  add(task) {
    if (this.tasks.has(task.id)) {
      throw new Error(`duplicate task ${task.id}`);
    }
    this.tasks.set(task.id, task);
  }

  ready(done) {
    const result = [];
    for (const task of this.tasks.values()) {
      if (done.has(task.id)) continue;
      if (task.dependsOn.every((d) => done.has(d))) {
        result.push(task);
      }
    }
    return result.sort((a, b) => b.priority - a.priority);
  }

  totalDuration(): number {
    let sum = 0;
    this.tasks.forEach((t) => {
      sum += t.durationMs;
    });
    return sum;
  }

  order(): string[] {
    const done = new Set<string>();
    const order: string[] = [];
    while (done.size < this.tasks.size) {
      const next = this.ready(done);
      if (next.length === 0) {
        throw new Error("dependency cycle");
      }
      done.add(next[0].id);
      order.push(next[0].id);
    }
    return order;
  }
}
