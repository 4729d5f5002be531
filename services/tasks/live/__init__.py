"""StreamTaskUpdates: the caller's task list and the task figures, live, as Server-Sent Events
(the console's tasks page follows them instead of polling). `feed` makes the frames, `figures`
shares one metrics computation among the streams; `voka.sse.StreamCap` bounds the streams
per caller."""
