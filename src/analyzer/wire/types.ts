/** The wire types live in core (ConnectionEvent carries them); re-exported for the parsers. */
export * from '../../core/wire';
