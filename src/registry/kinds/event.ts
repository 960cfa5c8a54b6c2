// core/v1 Event: schema, types, field selectors and the table printer (kubectl get events).
import type { Static } from '@sinclair/typebox';
import type { KindDef } from '../types.js';
import { age, col, nameColumn } from '../printers.js';
import { Int32, MicroTime, O, Obj, ObjectReference, Str, Sub, Time, kindSchema, listSchema } from './common.js';

const gvk = { group: '', version: 'v1', kind: 'Event' };

export const EventSource = Obj('io.k8s.api.core.v1.EventSource', 'EventSource names the component that reported an event.', {
  component: O(Str('The component reporting the event.')),
  host: O(Str('The node the event was reported on.')),
});

export const EventSeries = Obj('io.k8s.api.core.v1.EventSeries', 'EventSeries describes a series of repeated occurrences of an event.', {
  count: O(Int32('How many times the event occurred in the series so far.')),
  lastObservedTime: O(MicroTime('When the last occurrence was observed.')),
});

export const Event = kindSchema('io.k8s.api.core.v1.Event', gvk, 'Event is a report of something that happened in the cluster.', {
  involvedObject: Sub(ObjectReference, 'The object this event is about.'),
  reason: O(Str('A short, machine-understandable CamelCase reason for the event.')),
  message: O(Str('A human-readable description of the event.')),
  source: O(Sub(EventSource, 'The component reporting the event.')),
  firstTimestamp: O(Time('When the event was first recorded.')),
  lastTimestamp: O(Time('When the most recent occurrence was recorded.')),
  count: O(Int32('How many times the event occurred.')),
  type: O(Str('Normal or Warning.')),
  eventTime: O(MicroTime('When the event was first observed.')),
  series: O(Sub(EventSeries, 'Data about the series of repeated events, if any.')),
  action: O(Str('What action was taken or failed on the object.')),
  related: O(Sub(ObjectReference, 'A second object involved, if any.')),
  reportingComponent: O(Str('The controller that emitted the event, e.g. portico.io/endpoints-controller.')),
  reportingInstance: O(Str('The instance of the controller that emitted the event.')),
});
export type Event = Static<typeof Event>;

export const EventList = listSchema(Event, { ...gvk, kind: 'EventList' }, 'The list of Events.');
export type EventList = Static<typeof EventList>;

export const eventKind: KindDef<Event> = {
  group: '',
  version: 'v1',
  kind: 'Event',
  listKind: 'EventList',
  resource: 'events',
  singular: 'event',
  shortNames: ['ev'],
  categories: [],
  namespaced: true,
  subresources: [],
  schema: Event,
  nameRule: 'dns1123subdomain',
  defaults(ev) {
    ev.involvedObject ??= {};
  },
  fieldSelectors: {
    'involvedObject.kind': (e) => e.involvedObject?.kind ?? '',
    'involvedObject.namespace': (e) => e.involvedObject?.namespace ?? '',
    'involvedObject.name': (e) => e.involvedObject?.name ?? '',
    'involvedObject.uid': (e) => e.involvedObject?.uid ?? '',
    'involvedObject.apiVersion': (e) => e.involvedObject?.apiVersion ?? '',
    'involvedObject.resourceVersion': (e) => e.involvedObject?.resourceVersion ?? '',
    'involvedObject.fieldPath': (e) => e.involvedObject?.fieldPath ?? '',
    reason: (e) => e.reason ?? '',
    reportingComponent: (e) => e.reportingComponent ?? '',
    source: (e) => e.source?.component || e.reportingComponent || '',
    type: (e) => e.type ?? '',
  },
  table: {
    columns: [
      col('Last Seen', 'When the most recent occurrence was seen.'),
      col('Type', 'Normal or Warning.'),
      col('Reason', 'A short reason for the event.'),
      col('Object', 'The object the event is about.'),
      col('Subobject', 'The part of the object the event is about.', 1),
      col('Source', 'The component that reported the event.', 1),
      col('Message', 'A description of the event.'),
      col('First Seen', 'When the event was first seen.', 1),
      col('Count', 'How many times the event occurred.', 1, 'integer'),
      { ...nameColumn, priority: 1 },
    ],
    cells(ev, now) {
      let first = age(ev.firstTimestamp, now);
      if (!ev.firstTimestamp) first = age(ev.eventTime, now);
      let last = ev.lastTimestamp ? age(ev.lastTimestamp, now) : first;
      let count = ev.count ?? 0;
      if (ev.series) {
        last = age(ev.series.lastObservedTime, now);
        count = ev.series.count ?? 0;
      } else if (count === 0) count = 1;
      const io = ev.involvedObject ?? {};
      const kind = (io.kind ?? '').toLowerCase();
      const target = io.name ? `${kind}/${io.name}` : kind;
      const component = ev.source?.component || ev.reportingComponent || '';
      const instance = ev.source?.host || ev.reportingInstance || '';
      return [
        last,
        ev.type ?? '',
        ev.reason ?? '',
        target,
        io.fieldPath ?? '',
        instance ? `${component}, ${instance}` : component,
        (ev.message ?? '').trim(),
        first,
        count,
        ev.metadata?.name ?? '',
      ];
    },
  },
};
